"""Device ceilings measured on the device by the agent's microbenchmarks (compute per precision through the
runtimes, STREAM bandwidth) under the device lock, and cached per device, agent version and microbenchmark models;
what the cache and a measurement are worth is judged in bench/analysis/ceilings.py."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..analysis.ceilings import (CeilingsError, Log, across_measurements, assess, figures_history, keep_untrusted,
                                 read_cache, stale_reasons, write_atomic)
from .deploy import PushStats, agent_argv, agent_env, agent_hash, check_workdir, deploy_agent, deploy_artifact
from ..plan.inventory import Device
from ..paths import cache_root
from ..results.schema import parse_device_json
from ..transports import Transport


def cache_path(device: Device, items: List[Dict[str, Any]]) -> Path:
    """Cached per device, agent version and microbenchmark models."""
    import hashlib

    key = hashlib.sha256((agent_hash() + "".join(i.get("sha256") or "-" for i in items)).encode()).hexdigest()
    return cache_root() / "ceilings" / ("%s-%s.json" % (device.name, key[:12]))


def _agent_call(device: Device, transport: Transport, job: Dict[str, Any], timeout_s: float,
                stats: Optional[PushStats] = None) -> Dict[str, Any]:
    """Run ``python -m device_agents microbench`` on ``job`` under the device lock; its JSON result."""
    check_workdir(transport, device.python, device.name, timeout_s=min(60.0, timeout_s))
    agent = deploy_agent(transport, stats or PushStats())
    jobdir = transport.join("jobs", "microbench-%d" % int(time.time() * 1000))
    transport.write_text(jobdir + "/job.json", json.dumps(job))
    # under the device lock: ceilings measured inside another harness's timed window spoil both
    res = transport.exec(agent_argv(device, transport, "microbench", "job.json", "result.json", timeout_s + 5),
                         timeout_s=timeout_s, cwd=jobdir, env=agent_env(agent, jobdir))
    if res.timed_out or res.returncode != 0:
        raise CeilingsError("microbenchmarks on %s failed (%s): %s" % (
            device.name, "timeout" if res.timed_out else "exit %s" % res.returncode, res.stderr.strip()[-400:]))
    try:
        data = parse_device_json(transport.pull(jobdir + "/result.json"))
    except (OSError, ValueError) as exc:
        raise CeilingsError("microbenchmarks on %s wrote no usable result: %s" % (device.name, exc))
    if not isinstance(data, dict) or data.get("status") == "error":
        raise CeilingsError("microbenchmarks on %s: %s" % (device.name, data.get("error") if isinstance(data, dict)
                                                             else "the result is not a JSON object"))
    transport.remove_tree(jobdir)
    return data


def measure(device: Device, transport: Transport, mode: str = "measure", timeout_s: float = 900.0,
            log: Log = print, reason: str = "", items: Optional[List[Dict[str, Any]]] = None,
            job_extra: Optional[Dict[str, Any]] = None, gpu_providers: Optional[List[str]] = None) -> Dict[str, Any]:
    """The device's ceilings. ``mode``: measure (cache unless stale), remeasure (always), keep (cache as it
    is when readable). ``reason`` says why a re-measurement was asked for (e.g. a suspect ceiling).
    ``items`` (default: the zoo's microbenchmark models) and ``job_extra`` (e.g. a smaller bandwidth
    array) shape the microbenchmark job."""
    if items is None:
        from models.microbench import build_microbench_models

        items = build_microbench_models()
    gpu_items: List[Dict[str, Any]] = []
    if gpu_providers:  # each GPU provider the jobs ask for, measured through itself
        from models.microbench_gpu import build_gpu_microbench_models

        gpu_items = build_gpu_microbench_models(gpu_providers)
    path = cache_path(device, items + gpu_items)
    cached = read_cache(path, log) if mode != "remeasure" else None
    if cached is not None:
        state_now = None
        if mode != "keep":
            try:
                state_now = _agent_call(device, transport, {"state_only": True}, 120.0).get("state")
            except CeilingsError as exc:
                log("ceilings: cannot read the device state to check the cache (%s)" % exc)
        stale = stale_reasons(cached, state_now)
        cached["stale_reasons"] = stale
        keep_why = keep_untrusted(cached, stale, state_now) if mode != "keep" else None
        if keep_why:
            log("ceilings: %s's cached ceilings are not trusted (%s), but %s: kept with their spread and marked not "
                "trusted; measure again with --ceilings remeasure when the device is quiet"
                % (device.name, "; ".join(stale), keep_why))
            cached["kept_untrusted"] = keep_why
        if mode == "keep" or not stale or keep_why:
            cached["cached"] = True
            cached["cache_file"] = str(path)
            return cached
        log("ceilings: cached ceilings of %s are stale (%s): measuring again" % (device.name, "; ".join(stale)))
    log("ceilings: measuring %s%s (compute per precision through the runtimes, STREAM bandwidth; each repeated "
        "until stable) …" % (device.name, " — " + reason if reason else ""))
    stats = PushStats()
    transport_items = []
    for item in items:
        item = dict(item)
        if item.get("path"):
            item["path"] = deploy_artifact(transport, Path(item["path"]), item["sha256"], stats)
        transport_items.append(item)
    job: Dict[str, Any] = {"compute": transport_items, "repeats": 10}
    if gpu_items:
        job["gpu"] = [dict(g, path=deploy_artifact(transport, Path(g["path"]), g["sha256"], stats)) for g in gpu_items]
    job.update(job_extra or {})
    data = _agent_call(device, transport, job, timeout_s, stats)
    data["device_name"] = device.name
    data["measured_at_unix_s"] = time.time()
    data["measured_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    data["trust"] = assess(data)
    if reason:
        data["measured_because"] = reason
    previous = read_cache(path, log=lambda s: None)
    data["history"] = figures_history(previous, data)
    data["across_measurements"] = across_measurements(data["history"])
    changed = [f for f in data["across_measurements"] if f.get("change_vs_previous_rel") is not None
               and abs(f["change_vs_previous_rel"]) > 0.10]
    for f in changed:
        log("ceilings: %s %s is %+.0f %% against the previous measurement (%d measurements spread %.0f %%)" % (
            device.name, f["figure"], 100 * f["change_vs_previous_rel"], f["n"], 100 * (f["spread_rel"] or 0)))
    write_atomic(path, data)
    data["cached"] = False
    data["cache_file"] = str(path)
    if not data["trust"]["trusted"]:
        log("ceilings: %s measured but not trusted: %s" % (device.name, "; ".join(data["trust"]["reasons"])))
    return data
