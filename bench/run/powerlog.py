"""Energy from a power log captured on the device while a run went on (``--power-log FILE
--power-log-kind KIND``): samples are aligned to each job's timed window by wall-clock time.

The agent records each window's edges in Unix time and the device's UTC offset; log timestamps
without a zone are device local time. Energy is the trapezoid of the log's whole-device power over
the window; a log whose board gives no whole-device total, or that has no timestamps, yields null
with the reason.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from device_agents.sensors.energy import per_inference, window_energy
from device_agents.sensors.replay import PARSERS, parse_log

from ..results.store import RunStore

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class PowerLogError(ValueError):
    pass


def check_kind(kind: str) -> None:
    if kind not in PARSERS:
        raise PowerLogError("--power-log-kind %r is not known; use one of %s" % (kind, ", ".join(sorted(PARSERS))))


def _unix(wall: str, utc_offset_s: float) -> Optional[float]:
    dt = None
    try:
        dt = datetime.datetime.fromisoformat(wall)
    except ValueError:
        for fmt in ("%a %b %d %H:%M:%S %Y %z",):
            try:
                dt = datetime.datetime.strptime(wall, fmt)
            except ValueError:
                pass
    if dt is None:
        return None
    if dt.tzinfo is None:
        return (dt.replace(tzinfo=datetime.timezone.utc) - EPOCH).total_seconds() - utc_offset_s
    return (dt - EPOCH).total_seconds()


def _aligned(samples: List[Any], utc_offset_s: float) -> List[Any]:
    out = []
    for s in samples:
        wall = s.extra.get("wall_time")
        t = _unix(wall, utc_offset_s) if wall else None
        if t is not None and s.total_power_mw is not None:
            s.t_s = t
            out.append(s)
    return out


def energy_from_log(result: Dict[str, Any], samples: List[Any], kind: str, source: str) -> Dict[str, Any]:
    timing = result.get("timing") or {}
    out: Dict[str, Any] = {"sensor": "log:%s" % kind, "source": source, "is_estimate": False,
                           "method": "trapezoid of the attached log's whole-device power, aligned to the window by "
                                     "wall-clock time",
                           "energy_per_inference_mj": None, "avg_power_mw": None}
    t0, t1 = timing.get("window_start_unix_s"), timing.get("window_end_unix_s")
    if t0 is None or t1 is None:
        out["reason"] = "the job result has no wall-clock window (older agent)"
        return out
    aligned = _aligned(samples, float(timing.get("utc_offset_s") or 0.0))
    if not aligned:
        rules = {s.extra.get("total_rule") for s in samples if s.extra.get("total_rule")}
        out["reason"] = ("the log has no timestamped whole-device power samples" +
                         (" (%s)" % "; ".join(sorted(r for r in rules if r)) if rules else ""))
        return out
    inside = [s for s in aligned if t0 <= s.t_s <= t1]
    before = [s for s in aligned if s.t_s < t0]
    after = [s for s in aligned if s.t_s > t1]
    if not before or not after:
        out["reason"] = "the log (%s .. %s) does not cover the job's window" % (
            aligned[0].extra.get("wall_time"), aligned[-1].extra.get("wall_time"))
        return out
    energy, count, warnings = window_energy(aligned, "power", t0, t1, None)
    out.update(per_inference(energy, None, float(timing.get("window_s") or (t1 - t0)), int(timing.get("runs") or 0),
                             None))
    out["sample_count"] = len(inside)
    out["boundary"] = aligned[0].extra.get("total_rule")
    if len(inside) < 10:
        warnings.append("only %d log samples inside the window: energy per inference is coarse; log faster or run "
                        "longer (--min-seconds)" % len(inside))
    if warnings:
        out["warnings"] = warnings
    return out


def attach(store: RunStore, log: Path, kind: str) -> List[Tuple[str, Optional[float], Optional[str]]]:
    """Add ``power_log`` to every measured job of ``store``; returns (job, mJ/inference, reason) rows."""
    check_kind(kind)
    try:
        data = log.read_bytes()
    except OSError as exc:
        raise PowerLogError("cannot read power log %s: %s" % (log, exc))
    samples = parse_log(kind, data)
    rows = []
    for result in store.results():
        if result.get("status") != "ok":
            continue
        fresh = parse_log(kind, data) if samples else []
        pl = energy_from_log(result, fresh, kind, str(log))
        result["power_log"] = pl
        store.save_result(result)
        rows.append((result["job_id"], pl.get("energy_per_inference_mj"), pl.get("reason")))
    return rows


def attach_and_print(store: RunStore, log: str, kind: str) -> None:
    """Attach the power log ``log`` (of ``kind``) to the run's jobs and print each job's energy per inference, or why
    it has none."""
    for job, mj, reason in attach(store, Path(log), kind):
        print("power log %s: %s" % (job, "%.3f mJ/inference" % mj if mj is not None else "no energy: %s" % reason))
