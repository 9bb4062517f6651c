"""Device ceilings measured on the device: peak compute per precision through the runtimes
themselves, and sustainable memory bandwidth STREAM-style, plus a working-set sweep — each repeated
until stable, with the conditions it ran under (other processes' CPU use, load, governor, power mode)
so the host can tell a trustworthy ceiling from one measured beside a busy neighbour."""

from __future__ import annotations

import datetime
from typing import Any, Dict

from .. import AGENT_VERSION, SCHEMA_VERSION


def device_state() -> Dict[str, Any]:
    """What a cached ceiling depends on: runtime and numpy versions, governors, power mode, CPUs."""
    from ..conditions import governors, power_mode
    from ..probe import probe

    facts = probe()
    gov, gov_reason = governors(facts.get("cpu_affinity") or [0])
    mode, mode_source = power_mode()
    state: Dict[str, Any] = {
        "agent_version": AGENT_VERSION,
        "runtime_versions": {k: v.get("version") for k, v in sorted((facts.get("runtimes") or {}).items())},
        "numpy_version": facts.get("numpy_version"),
        "cpu_model": facts.get("cpu_model"), "cpu_cores_logical": facts.get("cpu_cores_logical"),
        "governors": gov, "power_mode": mode,
    }
    if gov is None:
        state["governors_reason"] = gov_reason
    if mode is None:
        state["power_mode_reason"] = mode_source
    state["busy_now"] = busy_now()
    return state


def busy_now(seconds: float = 0.5) -> Dict[str, Any]:
    """How busy other processes keep the device right now: the share of its cores they (and a hypervisor's
    steal) used over ``seconds`` while this process slept. Not part of what a ceiling depends on: the host uses
    it to decide whether measuring again now could give a trustworthy figure."""
    import time

    from ..conditions import Snapshot, interval

    a = Snapshot(with_processes=False)
    time.sleep(seconds)
    b = Snapshot(with_processes=False)
    iv = interval(a, b)
    other, cores = iv.get("other_busy_cores"), iv.get("cores") or []
    if not isinstance(other, (int, float)) or not cores:
        return {"share": None, "reason": iv.get("other_busy_cores_reason") or "no per-core counters"}
    return {"share": round((other + (iv.get("steal_cores") or 0.0)) / len(cores), 3), "seconds": seconds}


def run_microbench(job: Dict[str, Any]) -> Dict[str, Any]:
    """``job``: {"compute": [{runtime, precision, path, ops_per_run}], "bandwidth": {...}, "repeats": int,
    "max_trials": int, "max_s": float}; ``{"state_only": true}`` returns only ``device_state()``."""
    from ..conditions import ConditionsRecorder
    from ..probe import probe
    from .bandwidth import measure_bandwidth, working_set_sweep
    from .compute import measure_compute

    if job.get("state_only"):
        return {"schema": SCHEMA_VERSION, "state": device_state()}
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    repeats = int(job.get("repeats", 10))
    max_trials = int(job.get("max_trials", 12))
    max_s = float(job.get("max_s", 30.0))
    conditions = ConditionsRecorder()
    conditions.mark("before")
    conditions.mark("window_start")
    out: Dict[str, Any] = {"schema": SCHEMA_VERSION, "agent_version": AGENT_VERSION, "started_at": started,
                           "device": probe(), "state": device_state(), "compute": [], "bandwidth": None,
                           "sweep": None}
    for item in job.get("compute", []):
        out["compute"].append(measure_compute(item, repeats, job.get("threads"), max_trials, max_s))
    if job.get("gpu"):  # GPU ceilings through the providers the jobs use (microbench/gpu.py)
        from .gpu import measure_gpu_item

        out["gpu"] = [measure_gpu_item(item, repeats, max_trials, max_s) for item in job["gpu"]]
    bw = job.get("bandwidth", {})
    if bw.get("enabled", True):
        out["bandwidth"] = measure_bandwidth(repeats=int(bw.get("repeats", repeats)), threads=bw.get("threads"),
                                             array_bytes=bw.get("array_bytes"),
                                             max_trials=int(bw.get("max_trials", 6)), max_s=max_s)
        if bw.get("sweep", True):
            out["sweep"] = working_set_sweep(max_bytes=bw.get("sweep_max_bytes"))
    conditions.mark("window_end")
    out["conditions"] = conditions.record()
    out["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return out
