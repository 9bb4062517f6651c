"""Energy over a window, from power samples (trapezoid) or a cumulative counter (difference with
wrap-around), and the per-inference figures built on it. Units: t in s, power mW, energy mJ/µJ.

mW × s = mJ. A window edge between two samples takes the linearly interpolated value there; before
the first or after the last sample the nearest sample's value is held (and flagged).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple


def _interp(ts: Sequence[float], vs: Sequence[float], t: float) -> float:
    if t <= ts[0]:
        return vs[0]
    if t >= ts[-1]:
        return vs[-1]
    lo, hi = 0, len(ts) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ts[mid] <= t:
            lo = mid
        else:
            hi = mid
    span = ts[hi] - ts[lo]
    return vs[lo] if span <= 0 else vs[lo] + (vs[hi] - vs[lo]) * (t - ts[lo]) / span


def integrate_power_mj(points: Sequence[Tuple[float, float]], t0: float, t1: float) -> Optional[float]:
    """∫ P dt over [t0, t1] in mJ from (t_s, power_mW) samples, trapezoid rule."""
    pts = sorted((t, p) for t, p in points if p is not None)
    if not pts or t1 <= t0:
        return None
    ts = [t for t, _ in pts]
    vs = [p for _, p in pts]
    knots = [t0] + [t for t in ts if t0 < t < t1] + [t1]
    vals = [_interp(ts, vs, t) for t in knots]
    return sum((knots[i + 1] - knots[i]) * (vals[i] + vals[i + 1]) / 2.0 for i in range(len(knots) - 1))


def unwrap_counter(values: Sequence[float], wrap: Optional[float]) -> List[float]:
    """A cumulative counter made monotonic: each drop adds the counter's range (``wrap``)."""
    out: List[float] = []
    offset = 0.0
    prev = None
    for v in values:
        if prev is not None and v < prev:
            if wrap is None:
                raise ValueError("counter went backwards (%s -> %s) and its range is unknown" % (prev, v))
            offset += wrap
        out.append(v + offset)
        prev = v
    return out


def counter_energy_mj(points: Sequence[Tuple[float, float]], t0: float, t1: float,
                      wrap_uj: Optional[float]) -> Optional[float]:
    """Energy in mJ between t0 and t1 from (t_s, cumulative µJ) samples, interpolated at the edges."""
    pts = sorted(points)
    if len(pts) < 2 or t1 <= t0:
        return None
    ts = [t for t, _ in pts]
    vs = unwrap_counter([v for _, v in pts], wrap_uj)
    return (_interp(ts, vs, t1) - _interp(ts, vs, t0)) / 1000.0


def window_energy(samples: List[Any], kind: str, t0: float, t1: float,
                  wrap_uj: Optional[float]) -> Tuple[Optional[float], int, List[str]]:
    """(energy mJ, samples inside the window, warnings) for one sensor's series."""
    warnings: List[str] = []
    if kind == "energy":
        pts = [(s.t_s, s.energy_uj) for s in samples if s.t_s is not None and s.energy_uj is not None]
        energy = counter_energy_mj(pts, t0, t1, wrap_uj)
    else:
        pts = [(s.t_s, s.total_power_mw) for s in samples if s.t_s is not None and s.total_power_mw is not None]
        energy = integrate_power_mj(pts, t0, t1)
    inside = sum(1 for t, _ in pts if t0 <= t <= t1)
    if pts and (pts[0][0] > t0 or pts[-1][0] < t1):
        warnings.append("sensor samples do not cover the whole window: edge values held")
    return energy, inside, warnings


def per_inference(energy_mj: Optional[float], idle_power_mw: Optional[float], window_s: float, runs: int,
                  flops_per_inference: Optional[float]) -> Dict[str, Any]:
    """Energy per inference (total and idle-subtracted), average power, inferences per joule, GOPS/W."""
    out: Dict[str, Any] = {"energy_window_mj": energy_mj}
    if energy_mj is None or runs <= 0 or window_s <= 0:
        return out
    avg_mw = energy_mj / window_s
    out["avg_power_mw"] = avg_mw
    out["energy_per_inference_mj"] = energy_mj / runs
    out["inferences_per_j"] = runs / (energy_mj / 1000.0) if energy_mj > 0 else None
    if idle_power_mw is not None:
        out["idle_power_mw"] = idle_power_mw
        out["energy_per_inference_idle_subtracted_mj"] = (energy_mj - idle_power_mw * window_s) / runs
    if flops_per_inference:
        ops_per_s = flops_per_inference * runs / window_s
        out["gops_per_w"] = (ops_per_s / 1e9) / (avg_mw / 1000.0) if avg_mw > 0 else None
    else:
        out["gops_per_w"] = None
        out["gops_per_w_reason"] = "the model's operation count is unknown to this job"
    return out


def clock_drop_evidence(series: Dict[str, List[Tuple[float, float]]], drop: float = 0.15) -> List[str]:
    """Clocks that fell by more than ``drop`` from the first fifth of the window to the last fifth."""
    evidence = []
    for name, pts in series.items():
        if len(pts) < 10:
            continue
        n = max(1, len(pts) // 5)
        start = max(v for _, v in pts[:n])
        end = sorted(v for _, v in pts[-n:])[len(pts[-n:]) // 2]
        if start > 0 and end < start * (1.0 - drop):
            evidence.append("clock %s dropped from %.0f to %.0f MHz during the window" % (name, start, end))
    return evidence
