"""Peak compute through the runtime: a large matrix product, repeated until the peak is stable.

One run is discarded (allocation, packing, thread start). Then trials of ``repeats`` runs each; a
trial's figure is its fastest run. Trials go on until the ``STABLE_TRIALS`` best trial figures lie
within ``STABLE_REL`` of each other — the peak has been reached again and again, so a neighbour's burst
that slowed some trials no longer matters — or ``max_trials`` / ``max_s`` is reached (then ``stable``
is False and the spread says how far the best trials still disagree). The ceiling is the best trial;
``spread_rel`` = (max − min) / max over the best trials. A device busy for the whole measurement
can still give a stable low figure: the conditions record (and the host's trust verdict) catch that.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Optional

from ..inputs import generate_inputs
from ..runtimes import runtime_class

STABLE_TRIALS = 3
STABLE_REL = 0.03


def until_stable(trial: Callable[[], float], max_trials: int = 12, max_s: float = 30.0,
                 stable_rel: float = STABLE_REL, last: int = STABLE_TRIALS) -> Dict[str, Any]:
    """Call ``trial()`` (returns a rate, higher is better) until the ``last`` best results agree within
    ``stable_rel`` of their max; returns {best, trials, spread_rel, stable}."""
    figures: List[float] = []
    start = time.perf_counter()
    stable = False
    while len(figures) < max_trials:
        figures.append(trial())
        tail = sorted(figures)[-last:]
        if len(tail) == last and (max(tail) - min(tail)) <= stable_rel * max(tail):
            stable = True
            break
        if time.perf_counter() - start > max_s and len(figures) >= last:
            break
    tail = sorted(figures)[-last:]
    return {"best": max(figures), "trials": figures, "stable": stable,
            "spread_rel": (max(tail) - min(tail)) / max(tail) if max(tail) > 0 else None,
            "seconds": time.perf_counter() - start}


def measure_compute(item: Dict[str, Any], repeats: int, threads: Optional[int],
                    max_trials: int = 12, max_s: float = 30.0) -> Dict[str, Any]:
    """GFLOP/s (GOP/s for int8) of one microbenchmark model; null with the reason where it cannot run."""
    out: Dict[str, Any] = {"runtime": item.get("runtime"), "precision": item.get("precision"),
                           "shape_mnk": item.get("shape"), "gops": None}
    path = item.get("path")
    if not path or not os.path.isfile(path):
        out["reason"] = item.get("error") or "microbenchmark model missing on the device"
        return out
    try:
        cls = runtime_class(item["runtime"])
    except KeyError as exc:
        out["reason"] = str(exc.args[0])
        return out
    avail = cls.availability()
    if not avail.available:
        out["reason"] = avail.reason
        return out
    nthreads = threads or os.cpu_count() or 1
    ops = float(item["ops_per_run"])
    times: List[float] = []
    try:
        rt = cls({"threads": nthreads})
        rt.load(path)
        feeds, _ = generate_inputs(rt.input_specs(), 0, 1)
        rt.prepare(feeds)
        rt.run_once()  # first run discarded (allocation, packing, thread start)

        def trial() -> float:
            best = float("inf")
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                rt.run_once()
                dt = time.perf_counter() - t0
                times.append(dt * 1000.0)
                best = min(best, dt)
            return ops / best / 1e9

        found = until_stable(trial, max_trials, max_s)
    except Exception as exc:  # e.g. no fp16 MatMul kernel on this CPU
        out["reason"] = "%s could not run the %s matrix product: %s" % (
            item["runtime"], item.get("precision"), str(exc).strip().splitlines()[0][:300])
        return out
    out.update({"gops": found["best"], "best_ms": ops / found["best"] / 1e9 * 1000.0, "times_ms": times,
                "trial_gops": found["trials"], "spread_rel": found["spread_rel"], "stable": found["stable"],
                "threads": nthreads, "runtime_version": avail.version,
                "method": "%s %s matrix product %s (2·M·N·K ops per run), %d threads; trials of best-of-%d runs "
                          "after one discarded run, repeated until the best %d trials agree within %.0f %% "
                          "(%d trials, %s)" % (item["runtime"], item.get("precision"),
                                               "x".join(str(v) for v in item.get("shape") or []), nthreads,
                                               max(1, repeats), STABLE_TRIALS, 100 * STABLE_REL,
                                               len(found["trials"]), "stable" if found["stable"] else
                                               "NOT stable: spread %.0f %%" % (100 * (found["spread_rel"] or 0)))})
    return out
