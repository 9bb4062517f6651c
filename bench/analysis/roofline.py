"""Roofline placement of one measured job against its device's ceilings.

attained = FLOPs / p50 latency; arithmetic intensity AI = FLOPs / bytes (weights + activations);
attained bandwidth = bytes / p50; ridge = peak / bandwidth; bound = memory if AI < ridge else
compute; efficiency = attained / min(peak, AI × bandwidth). Units: GFLOP/s (GOP/s for int8), GB/s,
FLOP/byte.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional


@dataclass
class Placement:
    flops: float
    bytes: float
    latency_s: float
    attained_gops: float
    arithmetic_intensity: float
    attained_gbps: float
    peak_gops: Optional[float]
    bandwidth_gbps: Optional[float]
    ridge_ai: Optional[float]
    roof_gops: Optional[float]
    bound: Optional[str]
    efficiency: Optional[float]
    precision: str

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


def precision_of(variant: str) -> str:
    v = variant.lower()
    if "int8" in v or "qdq" in v:
        return "int8"
    if "fp16" in v or "f16" in v:
        return "fp16"
    return "fp32"


def place(flops: float, nbytes: float, latency_s: float, peak_gops: Optional[float],
          bandwidth_gbps: Optional[float], precision: str = "fp32") -> Placement:
    """Where a model sits under the roofline (pure arithmetic; see the module docstring)."""
    if flops <= 0 or nbytes <= 0 or latency_s <= 0:
        raise ValueError("flops, bytes and latency must be positive")
    attained = flops / latency_s / 1e9
    ai = flops / nbytes
    attained_bw = nbytes / latency_s / 1e9
    ridge = roof = bound = eff = None
    if peak_gops and bandwidth_gbps:
        ridge = peak_gops / bandwidth_gbps
        roof = min(peak_gops, ai * bandwidth_gbps)
        bound = "memory" if ai < ridge else "compute"
        eff = attained / roof
    return Placement(flops, nbytes, latency_s, attained, ai, attained_bw, peak_gops, bandwidth_gbps, ridge, roof,
                     bound, eff, precision)


def place_result(result: Dict[str, Any], peaks: Dict[str, Dict[str, Any]],
                 bandwidth_gbps: Optional[float]) -> Optional[Dict[str, Any]]:
    """Placement of a stored job result, or None (with no stats or no measurement)."""
    if result.get("status") != "ok":
        return None
    stats = ((result.get("plan") or {}).get("artifact") or {}).get("stats") or {}
    flops = stats.get("flops")
    nbytes = (stats.get("weight_bytes") or 0) + (stats.get("activation_bytes") or 0)
    p50 = (result.get("stats") or {}).get("p50_ms")
    if not flops or not nbytes or not p50:
        return None
    from ..ceilings import peak_for

    precision = precision_of(result.get("variant", ""))
    entry = peak_for(peaks, result.get("runtime_name", ""), precision)
    out = place(float(flops), float(nbytes), p50 / 1000.0, entry["gops"] if entry else None, bandwidth_gbps,
                precision).to_json()
    out["peak_used"] = "%s/%s" % (entry["runtime"], entry["precision"]) if entry else None
    out["params"] = stats.get("params")
    return out
