"""Roofline placement of one measured job against its device's ceilings.

attained = FLOPs / p50 latency; arithmetic intensity AI = FLOPs / bytes (weights + activations);
attained bandwidth = bytes / p50; ridge = peak / bandwidth; bound = memory if AI < ridge else
compute; efficiency = attained / min(peak, AI × bandwidth). Units: GFLOP/s (GOP/s for int8), GB/s,
FLOP/byte.

A verdict carries the ceilings' uncertainty: the peak and the bandwidth are each known to within their
relative spread (the larger of the spread between the trials of one measurement and the spread across the
device's kept measurements; at least ``UNTRUSTED_SPREAD`` for a ceiling that was not trusted). The ridge
then lies in a band, and a point whose intensity falls inside it is ``near the ridge`` — the bound cannot be
told — instead of being called memory- or compute-bound by the luck of one measurement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

#: Relative uncertainty assumed for a ceiling that was not trusted (unstable or measured on a busy device) when
#: its own spreads say less: a factor of two either way, wide enough for the 2.3x swings seen on a busy host.
UNTRUSTED_SPREAD = 1.0
#: The verdict when the intensity lies within the ridge's uncertainty band.
NEAR_RIDGE = "near the ridge"


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
    #: The ridge's band from the ceilings' spreads (FLOP/byte), and the relative spreads used.
    ridge_ai_low: Optional[float] = None
    ridge_ai_high: Optional[float] = None
    peak_spread_rel: Optional[float] = None
    bandwidth_spread_rel: Optional[float] = None
    #: Why the roof cannot be fully trusted (empty when it can).
    roof_doubts: List[str] = field(default_factory=list)

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
          bandwidth_gbps: Optional[float], precision: str = "fp32", peak_spread_rel: float = 0.0,
          bandwidth_spread_rel: float = 0.0, roof_doubts: Optional[List[str]] = None) -> Placement:
    """Where a model sits under the roofline (pure arithmetic; see the module docstring). The spreads are
    relative (0.1 = ±10 %); ``roof_doubts`` name why the roof is not trusted (widening its spreads)."""
    if flops <= 0 or nbytes <= 0 or latency_s <= 0:
        raise ValueError("flops, bytes and latency must be positive")
    doubts = list(roof_doubts or [])
    if doubts:
        peak_spread_rel = max(peak_spread_rel, UNTRUSTED_SPREAD)
        bandwidth_spread_rel = max(bandwidth_spread_rel, UNTRUSTED_SPREAD)
    attained = flops / latency_s / 1e9
    ai = flops / nbytes
    attained_bw = nbytes / latency_s / 1e9
    ridge = roof = bound = eff = lo = hi = None
    if peak_gops and bandwidth_gbps:
        ridge = peak_gops / bandwidth_gbps
        lo = ridge / ((1 + peak_spread_rel) * (1 + bandwidth_spread_rel))
        hi = ridge * (1 + peak_spread_rel) * (1 + bandwidth_spread_rel)
        roof = min(peak_gops, ai * bandwidth_gbps)
        bound = "memory" if ai < lo else "compute" if (ai > hi or lo == hi) else NEAR_RIDGE
        eff = attained / roof
    return Placement(flops, nbytes, latency_s, attained, ai, attained_bw, peak_gops, bandwidth_gbps, ridge, roof,
                     bound, eff, precision, lo, hi, peak_spread_rel if ridge else None,
                     bandwidth_spread_rel if ridge else None, doubts)


def figure_spread(entry: Optional[Dict[str, Any]], across: Dict[str, Any], figure: str) -> float:
    """A ceiling figure's relative uncertainty: the larger of its spread between the trials of its measurement
    and its spread across the device's kept measurements (0 when neither is known)."""
    within = (entry or {}).get("spread_rel")
    between = (across.get(figure) or {}).get("spread_rel") if isinstance(across.get(figure), dict) else None
    return max([float(v) for v in (within, between) if isinstance(v, (int, float)) and v >= 0] or [0.0])


def bound_text(point: Dict[str, Any]) -> str:
    """The bound as the table says it: memory / compute, ``near the ridge (AI x in the ridge band a–b)``, with
    ``roof not trusted: …`` when it is not."""
    bound = point.get("bound")
    if bound is None:
        return ""
    text = bound
    if bound == NEAR_RIDGE and point.get("ridge_ai_low"):
        text = "%s: cannot tell (AI %.3g within the ridge band %.3g–%.3g)" % (
            bound, point["arithmetic_intensity"], point["ridge_ai_low"], point["ridge_ai_high"])
    if point.get("roof_doubts"):
        text += "; roof not trusted: %s" % "; ".join(point["roof_doubts"])
    return text


def place_result(result: Dict[str, Any], peaks: Dict[str, Dict[str, Any]],
                 bandwidth_gbps: Optional[float], measured: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """Placement of a stored job result, or None (with no stats or no measurement). ``measured`` (from
    analysis.compare.device_ceilings) carries the ceilings' spreads and trust for the verdict's uncertainty."""
    if result.get("status") != "ok":
        return None
    stats = ((result.get("plan") or {}).get("artifact") or {}).get("stats") or {}
    flops = stats.get("flops")
    nbytes = (stats.get("weight_bytes") or 0) + (stats.get("activation_bytes") or 0)
    p50 = (result.get("stats") or {}).get("p50_ms")
    if not flops or not nbytes or not p50:
        return None  # unplaced_reason() says why
    from .peaks import peak_for

    precision = precision_of(result.get("variant", ""))
    unit = result.get("compute_unit") or "cpu"
    provider = accelerator_provider(result)
    entry = peak_for(peaks, result.get("runtime_name", ""), precision, unit, provider)
    if unit != "cpu":  # the unit's own bandwidth, measured through the same provider
        bandwidth_gbps = (peaks.get("%s:%s/bandwidth" % (unit, provider)) or {}).get("gbps")
    across = measured.get("across") or {} if isinstance(measured, dict) else {}
    peak_key = ("%s:%s/%s" % (unit, provider, entry["precision"]) if entry and unit != "cpu"
                else "%s/%s" % (entry["runtime"], entry["precision"]) if entry else "")
    bw_entry = ({"spread_rel": (measured or {}).get("bandwidth_spread_rel")} if unit == "cpu"
                else peaks.get("%s:%s/bandwidth" % (unit, provider)))
    out = place(float(flops), float(nbytes), p50 / 1000.0, entry["gops"] if entry else None, bandwidth_gbps,
                precision, figure_spread(entry, across, peak_key),
                figure_spread(bw_entry, across, "triad" if unit == "cpu" else "%s:%s/bandwidth" % (unit, provider)),
                list((measured or {}).get("doubts") or [])).to_json()
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
    suspect (``bench.analysis.ceilings.roof_check`` decides with the noise allowance and re-measures it)."""
    eff = point.get("efficiency")
    if eff is None or eff <= 1.0:
        return ""
    mb = point["bytes"] / 1e6
    memory_roof = point.get("bound") == "memory" or (
        point.get("bound") == NEAR_RIDGE and point.get("roof_gops") is not None and point.get("peak_gops") is not None
        and point["roof_gops"] < point["peak_gops"])
    if memory_roof:
        if llc_bytes and point["bytes"] <= llc_bytes:
            return ("above the DRAM roof: its %.1f MB per inference fit the %.0f MB last-level cache, so they were "
                    "served from cache" % (mb, llc_bytes / 1e6))
        return ("above the DRAM roof although its %.0f MB per inference %s: the bandwidth ceiling is too low "
                "(suspect)" % (mb, "exceed the %.0f MB last-level cache" % (llc_bytes / 1e6) if llc_bytes
                               else "may not fit the cache (LLC size unknown)"))
    return ("above the compute roof (%s peak %.1f G/s): nothing runs faster than the peak, so the measured peak is "
            "too low (suspect)" % (point.get("peak_used") or "?", point.get("peak_gops") or 0.0))


def unplaced_reason(result: Dict[str, Any]) -> Optional[str]:
    """Why a measured job has no roofline point (None when it has one, or was not measured)."""
    if result.get("status") != "ok":
        return None
    stats = ((result.get("plan") or {}).get("artifact") or {}).get("stats") or {}
    if stats.get("not_at_this_shape"):
        return "not placed: %s (the counts do not apply at this shape)" % stats["not_at_this_shape"]
    if not stats.get("flops"):
        return "not placed: no FLOP count for this model (%s)" % (stats.get("counts_method") or "no ONNX graph to count")
    if not ((stats.get("weight_bytes") or 0) + (stats.get("activation_bytes") or 0)):
        return "not placed: no byte count for this model"
    if not (result.get("stats") or {}).get("p50_ms"):
        return "not placed: no median latency"
    return None
