"""The timing loop: cold start, warm-up, then the timed window; every raw latency is kept.

With ``target_ci_pct`` the window goes on past its minimums until the median's 95 % CI half-width
(order statistics, ``median_ci``) is at most that percentage of the median, or a maximum is hit. The CI
is checked each time the sample count has grown by ``CI_CHECK_GROWTH`` (O(n) per check, O(n log n) in
all), so the check never dominates the window.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

from .job import MeasureSpec
from .median_ci import median_ci_half_width_rel

#: Re-check the CI when the sample count has grown by this fraction (and at least 10 samples).
CI_CHECK_GROWTH = 0.1


def time_call_ms(fn: Callable[[], Any]) -> float:
    """Wall time of one call in milliseconds (``perf_counter_ns``)."""
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e6


def warm_up(run_once: Callable[[], Any], spec: MeasureSpec) -> Dict[str, Any]:
    """Run at least ``warmup_runs`` times and at least ``warmup_min_s`` seconds."""
    start = time.perf_counter()
    runs = 0
    while runs < spec.warmup_runs or time.perf_counter() - start < spec.warmup_min_s:
        run_once()
        runs += 1
    return {"warmup_runs": runs, "warmup_s": time.perf_counter() - start}


def timed_window(run_once: Callable[[], Any], spec: MeasureSpec) -> Dict[str, Any]:
    """Time each call until both ``min_runs`` and ``min_seconds`` are met (and the target CI, if any),
    capped by ``max_runs`` / ``max_seconds``.

    Returns the raw latencies (ms), the window's monotonic start/end (``perf_counter`` seconds, for
    aligning sensor samples), its length on the wall clock too (``time.time``, a cross-check of the
    monotonic clock), which rule ended the window and, with a target, the CI half-width reached.
    """
    latencies: List[float] = []
    clock = time.perf_counter_ns
    target = spec.target_ci_pct / 100.0 if spec.target_ci_pct else None
    wall_start = time.time()
    window_start = clock()
    min_ns = int(spec.min_seconds * 1e9)
    max_ns = int(spec.max_seconds * 1e9)
    stop_reason = "min_runs and min_seconds met"
    next_check = spec.min_runs
    ci_rel: Optional[float] = None
    while True:
        t0 = clock()
        run_once()
        t1 = clock()
        latencies.append((t1 - t0) / 1e6)
        n = len(latencies)
        elapsed = t1 - window_start
        if n >= spec.max_runs:
            stop_reason = "max_runs reached"
            break
        if elapsed >= max_ns and n >= 1:
            stop_reason = "max_seconds reached" + ("" if n >= spec.min_runs else " before min_runs")
            break
        if n >= spec.min_runs and elapsed >= min_ns:
            if target is None:
                break
            if n >= next_check:
                ci_rel = median_ci_half_width_rel(latencies)
                if ci_rel is not None and ci_rel <= target:
                    stop_reason = "target CI met (median CI95 half-width %.2f %% <= %.2f %%)" % (
                        100 * ci_rel, spec.target_ci_pct)
                    break
                next_check = n + max(10, int(n * CI_CHECK_GROWTH))
    window_end = clock()
    wall_end = time.time()
    if target is not None and not stop_reason.startswith("target CI met"):
        ci_rel = median_ci_half_width_rel(latencies)
        stop_reason += " before the target CI (reached %s)" % (
            "%.2f %%" % (100 * ci_rel) if ci_rel is not None else "no CI: too few samples")
    return {
        "latencies_ms": latencies,
        "runs": len(latencies),
        "window_start_s": window_start / 1e9,
        "window_end_s": window_end / 1e9,
        "window_s": (window_end - window_start) / 1e9,
        "window_wall_s": wall_end - wall_start,
        "stop_reason": stop_reason,
        "target_ci_pct": spec.target_ci_pct,
        "ci95_half_width_pct": 100 * ci_rel if ci_rel is not None else None,
    }
