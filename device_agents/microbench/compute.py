"""Peak compute through the runtime: a large matrix product, best of N runs after a discarded first."""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional

from ..inputs import generate_inputs
from ..runtimes import runtime_class


def measure_compute(item: Dict[str, Any], repeats: int, threads: Optional[int]) -> Dict[str, Any]:
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
    try:
        rt = cls({"threads": nthreads})
        rt.load(path)
        feeds, _ = generate_inputs(rt.input_specs(), 0, 1)
        rt.prepare(feeds)
        rt.run_once()  # first run discarded (allocation, packing, thread start)
        best = float("inf")
        times = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            rt.run_once()
            dt = time.perf_counter() - t0
            times.append(dt * 1000.0)
            best = min(best, dt)
    except Exception as exc:  # e.g. no fp16 MatMul kernel on this CPU
        out["reason"] = "%s could not run the %s matrix product: %s" % (
            item["runtime"], item.get("precision"), str(exc).strip().splitlines()[0][:300])
        return out
    ops = float(item["ops_per_run"])
    out.update({"gops": ops / best / 1e9, "best_ms": best * 1000.0, "times_ms": times, "threads": nthreads,
                "runtime_version": avail.version,
                "method": "%s %s matrix product %s (2·M·N·K ops per run), %d threads, best of %d after one "
                          "discarded run" % (item["runtime"], item.get("precision"),
                                             "x".join(str(v) for v in item.get("shape") or []), nthreads, len(times))})
    return out
