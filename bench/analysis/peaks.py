"""The ceiling a job is held to: every measured ceiling of a device by key, the compute peak for a job's runtime,
precision and unit, the sustainable bandwidth. Pure functions of a ceilings dict (bench/analysis/ceilings.py measures and
caches them); the roofline and the roof check both choose through here."""

from __future__ import annotations

from typing import Any, Dict, Optional


def measured_peaks(ceilings: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Every measured ceiling by key: CPU compute "runtime/precision"; a GPU's compute
    "gpu:<provider>/<precision>" and its bandwidth "gpu:<provider>/bandwidth" (``gbps``), each measured
    through that provider (microbench/gpu.py). Entries carry their ``unit``."""
    out = {"%s/%s" % (c["runtime"], c["precision"]): dict(c, unit="cpu")
           for c in ceilings.get("compute") or [] if isinstance(c, dict) and _rate(c.get("gops"))}
    for g in ceilings.get("gpu") or []:
        if not isinstance(g, dict) or not (_rate(g.get("gops")) or _rate(g.get("gbps"))):
            continue
        key = "%s:%s/%s" % (g.get("unit", "gpu"), g.get("provider"),
                            g.get("precision") if g.get("kind") == "matmul" else "bandwidth")
        out[key] = dict(g, unit=g.get("unit", "gpu"))
    return out


def _rate(value: Any) -> bool:
    """A usable ceiling figure: a finite positive number (a device's microbenchmark output is not trusted)."""
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def peak_for(peaks: Dict[str, Dict[str, Any]], runtime: str, precision: str, unit: str = "cpu",
             provider: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The compute ceiling a job is held to. An accelerator job: only its own unit and provider at its
    precision (never another unit's roof; None when that was not measured). A CPU job: its own runtime
    and precision, else the best CPU figure for that precision on any runtime, else the best CPU fp32."""
    if unit != "cpu":
        entry = peaks.get("%s:%s/%s" % (unit, provider, precision))
        return entry if entry and entry.get("gops") else None
    cpu = {k: v for k, v in peaks.items() if v.get("unit", "cpu") == "cpu" and v.get("gops")}
    if "%s/%s" % (runtime, precision) in cpu:
        return cpu["%s/%s" % (runtime, precision)]
    for prec in (precision, "fp32"):
        same = [p for p in cpu.values() if p["precision"] == prec]
        if same:
            return max(same, key=lambda p: p["gops"])
    return None


def bandwidth_gbps(ceilings: Dict[str, Any]) -> Optional[float]:
    """Sustainable CPU bandwidth: STREAM triad. (A GPU's is in measured_peaks under
    "gpu:<provider>/bandwidth".)"""
    bw = ceilings.get("bandwidth") or {}
    return bw.get("triad_gbps")
