"""The timing loop: cold start, warm-up, then the timed window; every raw latency is kept."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List

from .job import MeasureSpec


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
    """Time each call until both ``min_runs`` and ``min_seconds`` are met (capped by the maxima).

    Returns the raw latencies (ms), the window's monotonic start/end (``perf_counter`` seconds, for
    aligning sensor samples) and which rule ended the window.
    """
    latencies: List[float] = []
    clock = time.perf_counter_ns
    window_start = clock()
    min_ns = int(spec.min_seconds * 1e9)
    max_ns = int(spec.max_seconds * 1e9)
    stop_reason = "min_runs and min_seconds met"
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
            break
    window_end = clock()
    return {
        "latencies_ms": latencies,
        "runs": len(latencies),
        "window_start_s": window_start / 1e9,
        "window_end_s": window_end / 1e9,
        "window_s": (window_end - window_start) / 1e9,
        "stop_reason": stop_reason,
    }
