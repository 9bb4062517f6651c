"""From stored results and ceilings to what the reports plot: roofline points per device, energy
points, and the framework comparison (speed-up over each model's FP32 ONNX Runtime baseline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .ceilings import CeilingsError, datasheet
from .peaks import bandwidth_gbps, measured_peaks
from .energy import energy_columns
from .roofline import place_result

BASELINE = ("onnx-fp32", "onnxruntime")


def load_ceilings(run_roots: List[Path]) -> Dict[str, Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = {}
    for root in run_roots:
        for path in sorted((root / "ceilings").glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue
            out[path.stem] = data
    return out


def device_ceilings(ceil: Optional[Dict[str, Any]]) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]], str]:
    """(measured {peaks, bandwidth_gbps}, datasheet or None, note)."""
    if not ceil:
        return {"peaks": {}, "bandwidth_gbps": None}, None, "ceilings not measured in this run (--ceilings skip)"
    if ceil.get("error"):
        return {"peaks": {}, "bandwidth_gbps": None}, None, "ceilings failed: %s" % ceil["error"]
    sheet = None
    note = "no datasheet entry chosen for this device (set options.datasheet in devices.yaml)"
    name = ceil.get("datasheet_name")
    if name:
        try:
            sheet = datasheet(name)
            note = "datasheet: %s (%s)" % (name, sheet.get("verification", ""))
        except CeilingsError as exc:
            note = str(exc)
    bw = ceil.get("bandwidth") if isinstance(ceil.get("bandwidth"), dict) else {}
    trust = ceil.get("trust") if isinstance(ceil.get("trust"), dict) else {}
    doubts = [str(r) for r in trust.get("reasons") or []] if trust.get("trusted") is False else []
    if ceil.get("suspect"):
        doubts.append("marked suspect: a job ran above its roof")
    across = {str(f.get("figure")): f for f in ceil.get("across_measurements") or [] if isinstance(f, dict)}
    return {"peaks": measured_peaks(ceil), "bandwidth_gbps": bandwidth_gbps(ceil),
            "bandwidth_spread_rel": bw.get("spread_rel"), "doubts": doubts, "across": across}, sheet, note


def by_unit(points: List[Dict[str, Any]], measured: Dict[str, Any]) -> List[Tuple[str, List[Dict[str, Any]], Dict[str, Any]]]:
    """Split a device's roofline by compute unit and provider: [(unit, its points, its measured ceilings)].
    Each plot shows only the roofs measured through that unit and provider (a GPU job never sits under the
    CPU's roof, a TensorRT job never under the CUDA EP's). The CPU comes first; it is left out only when
    every placed job ran on another unit."""
    groups = sorted({(p.get("unit") or "cpu", p.get("provider")) for p in points if (p.get("unit") or "cpu") != "cpu"},
                    key=lambda g: (g[0], str(g[1])))
    has_cpu = any((p.get("unit") or "cpu") == "cpu" for p in points)
    out = []
    if has_cpu or not groups:
        peaks = {k: v for k, v in measured["peaks"].items() if v.get("unit", "cpu") == "cpu"}
        out.append(("cpu", [p for p in points if (p.get("unit") or "cpu") == "cpu"],
                    {"peaks": peaks, "bandwidth_gbps": measured["bandwidth_gbps"],
                     "bandwidth_spread_rel": measured.get("bandwidth_spread_rel"),
                     "doubts": measured.get("doubts") or [], "across": measured.get("across") or {}}))
    for unit, provider in groups:
        pts = [p for p in points if (p.get("unit") or "cpu") == unit and p.get("provider") == provider]
        peaks = {k: v for k, v in measured["peaks"].items()
                 if v.get("unit") == unit and v.get("provider") == provider and v.get("gops")}
        bw = (measured["peaks"].get("%s:%s/bandwidth" % (unit, provider)) or {}).get("gbps")
        out.append((unit, pts, {"peaks": peaks, "bandwidth_gbps": bw, "provider": provider,
                                "doubts": measured.get("doubts") or [], "across": measured.get("across") or {},
                                "bandwidth_label": "%s bandwidth through %s (large Add, resident)" % (unit.upper(), provider)}))
    return out


def roofline_points(results: List[Dict[str, Any]], measured: Dict[str, Any]) -> List[Dict[str, Any]]:
    points = []
    for r in results:
        pl = place_result(r, measured["peaks"], measured["bandwidth_gbps"], measured)
        if pl is None:
            continue
        pl.update(model=r.get("model_name"), variant=r.get("variant"), runtime=r.get("runtime_name"),
                  device=r.get("device_name"), run_id=r.get("run_id"), round=(r.get("plan") or {}).get("round"))
        points.append(pl)
    return points


def energy_points(results: List[Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], str]:
    """(points with p50_ms and energy_mj, reason when none has energy)."""
    points, reasons = [], []
    for r in results:
        if r.get("status") != "ok":
            continue
        e = energy_columns(r)
        if e["energy_per_inference_mj"] is not None:
            points.append({"model": r.get("model_name"), "variant": r.get("variant"), "runtime": r.get("runtime_name"),
                           "p50_ms": (r.get("stats") or {}).get("p50_ms"), "energy_mj": e["energy_per_inference_mj"],
                           "valid": (r.get("validity") or {}).get("valid") is not False})
        elif e.get("power_reason"):
            reasons.append(e["power_reason"])
    reason = reasons[0] if reasons else "no job reported energy"
    tried = next(((r.get("power") or {}).get("sensors_tried") for r in results if (r.get("power") or {}).get(
        "sensors_tried")), None)
    if tried and not points:
        reason += " — " + "; ".join("%s: %s" % kv for kv in list(tried.items())[:3])
    return points, reason


def comparison_rows(rows: List[Dict[str, Any]], results: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Each measured job with its speed-up over the same model's baseline on the same device, and fidelity."""
    fidelity = {}
    for r in results:
        stats = ((r.get("plan") or {}).get("artifact") or {}).get("stats") or {}
        fid = stats.get("fidelity") or {}
        fidelity[r.get("job_id")] = fid.get("cosine_mean")
    base = {(r.get("run_id"), r["device"], r["model"], r.get("round")): r["p50_ms"] for r in rows
            if r["status"] == "ok" and (r["variant"], r["runtime"]) == BASELINE and r.get("p50_ms")}
    base_ci = {(r.get("run_id"), r["device"], r["model"], r.get("round")): (r.get("p50_ci95_low_ms"),
                                                                           r.get("p50_ci95_high_ms"))
               for r in rows if r["status"] == "ok" and (r["variant"], r["runtime"]) == BASELINE}
    base_valid = {(r.get("run_id"), r["device"], r["model"], r.get("round")): r.get("valid") for r in rows
                  if r["status"] == "ok" and (r["variant"], r["runtime"]) == BASELINE}
    out = []
    for r, res in zip(rows, results):
        if r["status"] != "ok" or not r.get("p50_ms"):
            continue
        key = (r.get("run_id"), r["device"], r["model"], r.get("round"))
        b = base.get(key)
        # a speed-up is a ratio: it is only as valid as both its job and its baseline
        valid = "NO" if "NO" in (r.get("valid"), base_valid.get(key)) else r.get("valid")
        (b_lo, b_hi), lo, hi = base_ci.get(key, (None, None)), r.get("p50_ci95_low_ms"), r.get("p50_ci95_high_ms")
        # the speed-up's range when both medians sit anywhere in their 95 % CIs (conservative: wider than a
        # joint 95 % interval)
        span = (b_lo / hi, b_hi / lo) if b and None not in (b_lo, b_hi, lo, hi) and lo > 0 and hi > 0 else (None, None)
        out.append(dict(run_id=r.get("run_id"), round=r.get("round"), valid=valid,
                        device=r["device"], model=r["model"], variant=r["variant"], runtime=r["runtime"],
                        p50_ms=r["p50_ms"], p50_ci95_low_ms=lo, p50_ci95_high_ms=hi, baseline_p50_ms=b,
                        speedup=(b / r["p50_ms"]) if b else None, speedup_low=span[0], speedup_high=span[1],
                        fidelity_cosine=fidelity.get(res.get("job_id"))))
    return out
