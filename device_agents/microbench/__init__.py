"""Device ceilings measured on the device: peak compute per precision through the runtimes
themselves, and sustainable memory bandwidth STREAM-style, plus a working-set sweep."""

from __future__ import annotations

import datetime
from typing import Any, Dict

from .. import AGENT_VERSION, SCHEMA_VERSION


def run_microbench(job: Dict[str, Any]) -> Dict[str, Any]:
    """``job``: {"compute": [{runtime, precision, path, ops_per_run}], "bandwidth": {...}, "repeats": int}."""
    from ..probe import probe
    from .bandwidth import measure_bandwidth, working_set_sweep
    from .compute import measure_compute

    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    repeats = int(job.get("repeats", 10))
    out: Dict[str, Any] = {"schema": SCHEMA_VERSION, "agent_version": AGENT_VERSION, "started_at": started,
                           "device": probe(), "compute": [], "bandwidth": None, "sweep": None}
    for item in job.get("compute", []):
        out["compute"].append(measure_compute(item, repeats, job.get("threads")))
    bw = job.get("bandwidth", {})
    if bw.get("enabled", True):
        out["bandwidth"] = measure_bandwidth(repeats=int(bw.get("repeats", repeats)), threads=bw.get("threads"),
                                             array_bytes=bw.get("array_bytes"))
        if bw.get("sweep", True):
            out["sweep"] = working_set_sweep(max_bytes=bw.get("sweep_max_bytes"))
    return out
