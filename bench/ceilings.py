"""Device ceilings: measured on the device by the agent's microbenchmarks (cached per device and
agent version, re-measured on request), and datasheet peaks from ``bench/reference/device_specs.csv``."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .deploy import PushStats, agent_hash, deploy_agent, deploy_artifact
from .inventory import Device
from .paths import cache_root
from .transports import Transport

SPECS_FILE = Path(__file__).with_name("reference") / "device_specs.csv"
_PEAK = re.compile(r"([\d.]+)\s*(GFLOPS|TFLOPS|GOPS|TOPS)", re.I)
_NUM = re.compile(r"([\d.]+)")


class CeilingsError(RuntimeError):
    pass


def cache_path(device: Device, items: List[Dict[str, Any]]) -> Path:
    """Cached per device, agent version and microbenchmark models."""
    import hashlib

    key = hashlib.sha256((agent_hash() + "".join(i.get("sha256") or "-" for i in items)).encode()).hexdigest()
    return cache_root() / "ceilings" / ("%s-%s.json" % (device.name, key[:12]))


def measure(device: Device, transport: Transport, remeasure: bool = False, timeout_s: float = 900.0,
            log=print) -> Dict[str, Any]:
    """The device's measured ceilings (from the cache unless ``remeasure``)."""
    from models.microbench import build_microbench_models

    items = build_microbench_models()
    path = cache_path(device, items)
    if path.is_file() and not remeasure:
        data = json.loads(path.read_text())
        data["cached"] = True
        return data
    log("ceilings: measuring %s (compute per precision through the runtimes, STREAM bandwidth) …" % device.name)
    stats = PushStats()
    agent = deploy_agent(transport, stats)
    remote_items = []
    for item in items:
        item = dict(item)
        if item.get("path"):
            item["path"] = deploy_artifact(transport, Path(item["path"]), item["sha256"], stats)
        remote_items.append(item)
    jobdir = transport.join("jobs", "microbench-%d" % int(time.time() * 1000))
    transport.write_text(jobdir + "/job.json", json.dumps({"compute": remote_items, "repeats": 10}))
    res = transport.exec([device.python, "-m", "device_agents", "microbench", "job.json", "--out", "result.json"],
                         timeout_s=timeout_s, cwd=jobdir, env={"PYTHONPATH": agent})
    if res.timed_out or res.returncode != 0:
        raise CeilingsError("microbenchmarks on %s failed (%s): %s" % (
            device.name, "timeout" if res.timed_out else "exit %s" % res.returncode, res.stderr.strip()[-400:]))
    try:
        data = json.loads(transport.pull(jobdir + "/result.json"))
    except (OSError, ValueError) as exc:
        raise CeilingsError("microbenchmarks on %s wrote no result: %s" % (device.name, exc))
    transport.remove_tree(jobdir)
    data["device_name"] = device.name
    data["measured_at_unix_s"] = time.time()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True))
    data["cached"] = False
    return data


def measured_peaks(ceilings: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """"runtime/precision" -> measured entry ({gops, runtime, precision, method}), for every one that ran."""
    return {"%s/%s" % (c["runtime"], c["precision"]): c for c in ceilings.get("compute") or [] if c.get("gops")}


def peak_for(peaks: Dict[str, Dict[str, Any]], runtime: str, precision: str) -> Optional[Dict[str, Any]]:
    """The ceiling a job is held to: its own runtime and precision, else the best measured for that
    precision on any runtime, else the best fp32."""
    if "%s/%s" % (runtime, precision) in peaks:
        return peaks["%s/%s" % (runtime, precision)]
    for prec in (precision, "fp32"):
        same = [p for p in peaks.values() if p["precision"] == prec]
        if same:
            return max(same, key=lambda p: p["gops"])
    return None


def bandwidth_gbps(ceilings: Dict[str, Any]) -> Optional[float]:
    """Sustainable bandwidth: STREAM triad."""
    bw = ceilings.get("bandwidth") or {}
    return bw.get("triad_gbps")


def _first(pattern: re.Pattern, text: str) -> Optional[float]:
    m = pattern.search(text or "")
    if not m:
        return None
    value = float(m.group(1))
    if m.lastindex and m.lastindex >= 2 and m.group(2).upper().startswith("T"):
        value *= 1000.0
    return value


def datasheet(name: Optional[str]) -> Optional[Dict[str, Any]]:
    """Theoretical peaks (GFLOP/s or GOP/s) and DRAM bandwidth (GB/s) of a device in the reference sheet."""
    if not name:
        return None
    with open(SPECS_FILE, newline="") as fh:
        rows = {r["device"]: r for r in csv.DictReader(fh)}
    row = rows.get(name)
    if row is None:
        raise CeilingsError("no datasheet entry %r; entries: %s" % (name, ", ".join(sorted(rows))))
    return {"device": name, "unit": row["unit"], "source": row["source"], "verification": row["verification"],
            "fp32": _first(_PEAK, row["fp32_peak"]), "fp16": _first(_PEAK, row["fp16_peak"]),
            "int8": _first(_PEAK, row["int8_peak"]), "bandwidth_gbps": _first(_NUM, row["dram_bw_theoretical_GBps"])}


def datasheet_names() -> List[str]:
    with open(SPECS_FILE, newline="") as fh:
        return [r["device"] for r in csv.DictReader(fh)]
