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
    unit = result.get("compute_unit") or "cpu"
    provider = accelerator_provider(result)
    entry = peak_for(peaks, result.get("runtime_name", ""), precision, unit, provider)
    if unit != "cpu":  # the unit's own bandwidth, measured through the same provider
        bandwidth_gbps = (peaks.get("%s:%s/bandwidth" % (unit, provider)) or {}).get("gbps")
    out = place(float(flops), float(nbytes), p50 / 1000.0, entry["gops"] if entry else None, bandwidth_gbps,
                precision).to_json()
    out["unit"] = unit
    out["provider"] = provider
    out["peak_used"] = ("%s:%s/%s" % (unit, provider, entry["precision"]) if entry and unit != "cpu"
                        else "%s/%s" % (entry["runtime"], entry["precision"]) if entry else None)
    if entry is None or not bandwidth_gbps:
        out["no_roof_reason"] = ("no %s ceiling measured for %s%s on this device: not placed against another "
                                 "unit's roof" % ("compute" if entry is None else "bandwidth", unit,
                                                  " (%s, %s)" % (provider, precision) if provider else ""))
    out["params"] = stats.get("params")
    return out


def accelerator_provider(result: Dict[str, Any]) -> Optional[str]:
    """The provider an accelerator job ran on: the first non-CPU provider its session kept."""
    from device_agents.units import unit_of_provider

    for name in ((result.get("placement") or {}).get("used") or []):
        if unit_of_provider(name) not in (None, "cpu"):
            return name
    return None


def roof_note(point: Dict[str, Any], llc_bytes: Optional[float]) -> str:
    """Why a point sits above its roof, told truthfully (empty when it does not).

    Memory-bound and its bytes per inference fit the last-level cache: served from cache, expected.
    Memory-bound and they do not (or the LLC is unknown): the bandwidth ceiling is too low. Compute-
    bound: nothing is faster than the peak, so the measured peak is too low. Either way the ceiling is
    suspect (``bench.ceilings.roof_check`` decides with the noise allowance and re-measures it)."""
    eff = point.get("efficiency")
    if eff is None or eff <= 1.0:
        return ""
    mb = point["bytes"] / 1e6
    if point.get("bound") == "memory":
        if llc_bytes and point["bytes"] <= llc_bytes:
            return ("above the DRAM roof: its %.1f MB per inference fit the %.0f MB last-level cache, so they were "
                    "served from cache" % (mb, llc_bytes / 1e6))
        return ("above the DRAM roof although its %.0f MB per inference %s: the bandwidth ceiling is too low "
                "(suspect)" % (mb, "exceed the %.0f MB last-level cache" % (llc_bytes / 1e6) if llc_bytes
                               else "may not fit the cache (LLC size unknown)"))
    return ("above the compute roof (%s peak %.1f G/s): nothing runs faster than the peak, so the measured peak is "
            "too low (suspect)" % (point.get("peak_used") or "?", point.get("peak_gops") or 0.0))
