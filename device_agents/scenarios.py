"""Scenarios beyond one quiet window: does the device *hold* its speed, and a frame rate?

- ``sustained``: back-to-back inference for ``duration_s``; every ``interval_s`` the interval closes on the
  device: its count and p50/p90/p99 (ms), the device's temperature, CPU clock and power over it (the job's
  sensors, the same clock), and the CPU time other processes took (``/proc/stat``, as the conditions record).
  The interval's raw samples are then dropped and the sensor samples before it forgotten, so memory stays
  bounded for hours; a uniform-in-time subsample of the raw latencies (at most ``keep_max``) is kept.
- ``stream``: frames arrive on a fixed clock (1/fps, as a camera delivers them) into a queue of depth one (a
  newer frame replaces a waiting one, as a video pipeline drops); each frame's latency counts from its
  arrival, including the time it waited behind the previous frame.
- ``offline``: the most inferences per second, over a batch sweep (MLPerf's offline scenario).

The agent measures; the host finds the steady state, steps and their cause (bench/analysis/scenarios.py).
Python 3.8, standard library and numpy.
"""

from __future__ import annotations

import time
from array import array
from typing import Any, Callable, Dict, List, Optional

from .conditions import Snapshot, interval

#: Raw latencies a long scenario keeps (a uniform subsample in time); 50,000 doubles = 400 kB.
KEEP_MAX = 50000
#: A stream's rate is sustainable when at most this share of frames misses its deadline (dropped ones count).
MISS_RATE_MAX = 0.01


class Thinned:
    """A uniform-in-time subsample of a stream of values in bounded memory: every value until ``cap``, then every
    2nd, 4th, … (the stride doubles and the kept values are halved each time the cap is reached)."""

    def __init__(self, cap: int = KEEP_MAX) -> None:
        self.cap = max(2, int(cap))
        self.values = array("d")
        self.stride = 1
        self.seen = 0

    def add(self, value: float) -> None:
        if self.seen % self.stride == 0:
            self.values.append(value)
            if len(self.values) >= self.cap:
                self.values = self.values[::2]
                self.stride *= 2
        self.seen += 1


def _pcts(values: Any) -> Dict[str, Optional[float]]:
    import numpy as np

    if not len(values):
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None}
    p50, p90, p99 = (float(v) for v in np.percentile(np.frombuffer(values, dtype=np.float64)
                                                     if isinstance(values, array) else np.asarray(values, float),
                                                     [50, 90, 99]))
    return {"p50_ms": round(p50, 6), "p90_ms": round(p90, 6), "p99_ms": round(p99, 6)}


def _other_share(a: Snapshot, b: Snapshot) -> Dict[str, Any]:
    """Other processes' (and steal's) share of the job's cores between two snapshots, and the busiest of them."""
    iv = interval(a, b)
    other, cores = iv.get("other_busy_cores"), iv.get("cores") or []
    out: Dict[str, Any] = {"other_busy_share": None}
    if isinstance(other, (int, float)) and cores:
        out["other_busy_share"] = round((other + (iv.get("steal_cores") or 0.0)) / len(cores), 3)
        top = (iv.get("top_other_processes") or [None])[0]
        if top:
            out["top_other"] = "%s (pid %s)" % (top.get("name"), top.get("pid"))
    else:
        out["other_busy_share_reason"] = iv.get("other_busy_cores_reason") or "no per-core counters"
    return out


def sustained(run_once: Callable[[], Any], duration_s: float, interval_s: float, telemetry: Any,
              cores: Optional[List[int]] = None, keep_max: int = KEEP_MAX,
              clock_ns: Callable[[], int] = time.perf_counter_ns) -> Dict[str, Any]:
    """Back-to-back inference for ``duration_s`` seconds with ``interval_s`` intervals closed as they end (see
    the module docstring). Returns a timed-window dict (``latencies_ms``: the kept subsample) with
    ``scenario``: name, duration_s, interval_s, total_runs, kept samples and stride, intervals[]."""
    if duration_s <= 0 or interval_s <= 0:
        raise ValueError("sustained needs duration_s > 0 and interval_s > 0")
    kept = Thinned(keep_max)
    intervals: List[Dict[str, Any]] = []
    current = array("d")
    wall_start = time.time()
    start_ns = clock_ns()
    open_ns = start_ns
    close_ns = start_ns + int(interval_s * 1e9)
    end_ns = start_ns + int(duration_s * 1e9)
    snap = Snapshot(cores)
    total = 0
    while True:
        t0 = clock_ns()
        run_once()
        t1 = clock_ns()
        latency = (t1 - t0) / 1e6
        current.append(latency)
        kept.add(latency)
        total += 1
        if t1 >= close_ns or t1 >= end_ns:
            snap_end = Snapshot(cores)
            row: Dict[str, Any] = {"t_s": round((open_ns - start_ns) / 1e9, 3),
                                   "duration_s": round((t1 - open_ns) / 1e9, 3), "n": len(current)}
            row.update(_pcts(current))
            row.update(telemetry.interval_figures(open_ns / 1e9, t1 / 1e9))
            row.update(_other_share(snap, snap_end))
            intervals.append(row)
            telemetry.forget_before(open_ns / 1e9)
            current = array("d")
            snap = snap_end
            open_ns = t1
            close_ns = t1 + int(interval_s * 1e9)
            if t1 >= end_ns:
                break
    end = clock_ns()
    energies = [r.get("energy_mj") for r in intervals]
    energy = sum(energies) if energies and all(isinstance(e, (int, float)) for e in energies) else None
    return {
        "latencies_ms": list(kept.values), "runs": len(kept.values),
        "window_start_s": start_ns / 1e9, "window_end_s": end / 1e9, "window_s": (end - start_ns) / 1e9,
        "window_wall_s": time.time() - wall_start, "stop_reason": "duration reached",
        "target_ci_pct": None, "ci95_half_width_pct": None,
        "scenario": {"name": "sustained", "duration_s": duration_s, "interval_s": interval_s, "total_runs": total,
                     "samples_kept": len(kept.values), "samples_kept_every": kept.stride,
                     "energy_mj": energy, "energy_per_inference_mj": energy / total if energy is not None and total
                     else None,
                     "energy_reason": None if energy is not None else
                     "no power sensor sample in every interval (see intervals[].power_mw_reason)",
                     "intervals": intervals},
    }


def stream(run_once: Callable[[], Any], fps: float, duration_s: float, deadline_ms: Optional[float] = None,
           clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep
           ) -> Dict[str, Any]:
    """Frames at ``fps`` for ``duration_s`` into a depth-one queue (see the module docstring). A frame missed its
    deadline (default 1/fps) when its result came later than that after its arrival; a dropped frame never got
    one and counts as missed. ``latencies_ms`` are the inference times themselves; ``scenario.stream`` has the
    latencies from arrival."""
    if fps <= 0 or duration_s <= 0:
        raise ValueError("stream needs fps > 0 and duration_s > 0")
    period = 1.0 / fps
    deadline = deadline_ms if deadline_ms is not None else 1000.0 * period
    service: List[float] = []
    from_arrival: List[float] = []
    late = dropped = 0
    next_frame = 0
    wall_start = time.time()
    t0 = clock()
    while True:
        elapsed = clock() - t0
        if elapsed >= duration_s:
            break
        newest = int(elapsed // period)
        if newest < next_frame:  # idle until the next frame arrives
            sleep(max(0.0, t0 + next_frame * period - clock()))
            continue
        dropped += newest - next_frame  # frames replaced in the depth-one queue while the previous one ran
        arrival = t0 + newest * period
        s0 = clock()
        run_once()
        done = clock()
        service.append((done - s0) * 1000.0)
        lat = (done - arrival) * 1000.0
        from_arrival.append(lat)
        late += lat > deadline
        next_frame = newest + 1
    end = clock()
    frames = len(from_arrival) + dropped
    missed = late + dropped
    pct = _pcts(from_arrival)
    miss_rate = missed / frames if frames else None
    return {
        "latencies_ms": service, "runs": len(service),
        "window_start_s": t0, "window_end_s": end, "window_s": end - t0, "window_wall_s": time.time() - wall_start,
        "stop_reason": "duration reached", "target_ci_pct": None, "ci95_half_width_pct": None,
        "scenario": {"name": "stream", "stream": {
            "fps": fps, "deadline_ms": deadline, "duration_s": duration_s, "frames": frames,
            "processed": len(from_arrival), "missed": missed, "late": late, "dropped": dropped,
            "miss_rate": miss_rate, "p50_ms": pct["p50_ms"], "p99_ms": pct["p99_ms"],
            "sustainable": bool(miss_rate is not None and miss_rate <= MISS_RATE_MAX),
            "sustainable_rule": "at most %.0f %% of frames miss their deadline (dropped frames count as missed)"
                                % (100 * MISS_RATE_MAX)}},
    }


def offline(prepare: Callable[[int], None], run_once: Callable[[], Any], batches: List[int], seconds: float,
            warmup_runs: int = 2, clock_ns: Callable[[], int] = time.perf_counter_ns) -> Dict[str, Any]:
    """Inferences per second at each batch size (``prepare(batch)`` resizes and prepares the inputs), each for
    ``seconds`` after ``warmup_runs``; a batch the model cannot take is recorded with its error. The timed-window
    fields describe the best batch (its per-call latencies)."""
    rows: List[Dict[str, Any]] = []
    best: Optional[Dict[str, Any]] = None
    best_lat: List[float] = []
    wall_start = time.time()
    start = clock_ns()
    for batch in batches:
        try:
            prepare(batch)
            for _ in range(max(0, warmup_runs)):
                run_once()
            lat: List[float] = []
            b0 = clock_ns()
            while True:
                t0 = clock_ns()
                run_once()
                t1 = clock_ns()
                lat.append((t1 - t0) / 1e6)
                if t1 - b0 >= seconds * 1e9 and len(lat) >= 3:
                    break
        except Exception as exc:  # a model with a fixed batch, or out of memory: that batch is not possible
            rows.append({"batch": batch, "inferences_per_s": None,
                         "reason": "%s: %s" % (type(exc).__name__, str(exc).strip()[:300])})
            continue
        window_s = (clock_ns() - b0) / 1e9
        row = {"batch": batch, "calls": len(lat), "window_s": round(window_s, 4),
               "inferences_per_s": round(batch * len(lat) / window_s, 3) if window_s > 0 else None}
        row.update(_pcts(lat))
        rows.append(row)
        if row["inferences_per_s"] is not None and (best is None or row["inferences_per_s"] > best["inferences_per_s"]):
            best, best_lat = row, lat
    end = clock_ns()
    if best is None:
        raise RuntimeError("offline: no batch size ran (%s)" % "; ".join(
            "batch %s: %s" % (r["batch"], r.get("reason")) for r in rows))
    return {
        "latencies_ms": best_lat, "runs": len(best_lat), "window_start_s": start / 1e9, "window_end_s": end / 1e9,
        "window_s": (end - start) / 1e9, "window_wall_s": time.time() - wall_start,
        "stop_reason": "batch sweep done", "target_ci_pct": None, "ci95_half_width_pct": None,
        "scenario": {"name": "offline", "offline": {"batches": rows, "best_batch": best["batch"],
                                                    "max_inferences_per_s": best["inferences_per_s"]}},
    }
