"""Rows of the comparison table, one per job, from stored results: the figures a reader compares, units in the
column names, each job's verdict. The pandas API, the report and the terminal table read these."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .accuracy import accuracy_columns
from .energy import energy_columns
from .scenarios import scenario_columns
from .stats import summarize


def _mb(value: Optional[int]) -> Optional[float]:
    return round(value / 1e6, 2) if value is not None else None


def _validity(result: Dict[str, Any], stats: Dict[str, Any]) -> Dict[str, Any]:
    """The stored verdict, or one computed now for results stored before verdicts existed."""
    if result.get("status") != "ok":
        return {}
    if isinstance(result.get("validity"), dict):
        return result["validity"]
    from .validity import verdict

    return verdict(result, stats)


def input_shapes(result: Dict[str, Any]) -> Optional[str]:
    """The shapes the job ran at, compactly: ``1x128`` when every input has that shape, else
    ``input_ids 1x128, pixel_values 1x3x224x224``."""
    recipe = result.get("inputs")
    if not isinstance(recipe, list) or not recipe:
        return None
    shapes = ["x".join(str(d) for d in (r.get("shape") or [])) or "scalar" for r in recipe if isinstance(r, dict)]
    if len(set(shapes)) == 1:
        return shapes[0]
    return ", ".join("%s %s" % (r.get("name"), s) for r, s in zip(recipe, shapes))


def job_row(result: Dict[str, Any], run_id: str = "") -> Dict[str, Any]:
    """The figures a reader compares, with units in the column names."""
    st = result.get("stats") or (summarize(result["latencies_ms"]) if result.get("latencies_ms") else {})
    validity = _validity(result, st)
    invalid = [w for w in validity.get("warnings", []) if w.get("severity") == "invalid"]
    plan = result.get("plan") if isinstance(result.get("plan"), dict) else {}
    timing = result.get("timing") or {}
    memory = result.get("memory") or {}
    runtime = result.get("runtime") or {}
    model = result.get("model") or {}
    row: Dict[str, Any] = {
        "run_id": run_id,
        "device": result.get("device_name"),
        "model": result.get("model_name"),
        "variant": result.get("variant"),
        "runtime": result.get("runtime_name"),
        "runtime_version": runtime.get("version"),
        "round": plan.get("round") or None,
        "threads": (plan.get("runtime_options") or {}).get("threads") or runtime.get("threads"),
        "inputs": input_shapes(result),
        "status": result.get("status"),
        "valid": ("yes" if validity.get("valid") else "NO") if validity else None,
        "validity_warnings": ", ".join(w["code"] for w in (invalid or validity.get("warnings", []))) or None,
        "n": st.get("n"),
        "p50_ms": st.get("p50_ms"),
        "p90_ms": st.get("p90_ms"),
        "throughput_per_s": round(1000.0 / st["p50_ms"], 2) if st.get("p50_ms") else None,
        "p95_ms": st.get("p95_ms"),
        "p99_ms": st.get("p99_ms"),
        "mean_ms": st.get("mean_ms"),
        "min_ms": st.get("min_ms"),
        "std_ms": st.get("std_ms"),
        "cv": st.get("cv"),
        "p50_ci95_low_ms": (st.get("p50_ci95_ms") or [None, None])[0],
        "p50_ci95_high_ms": (st.get("p50_ci95_ms") or [None, None])[1],
        "load_ms": timing.get("load_ms"),
        "first_inference_ms": timing.get("first_inference_ms"),
        "peak_mem_mb": _mb(memory.get("peak_over_baseline_bytes")),
        "model_file_mb": _mb(model.get("file_bytes")),
        **energy_columns(result),
        **scenario_columns(result),
        **accuracy_columns(result),
        "note": result.get("error") or result.get("reason") or "; ".join(result.get("warnings") or []) or "",
    }
    return row


def rows_for(results: List[Dict[str, Any]], run_id: str = "") -> List[Dict[str, Any]]:
    from .accuracy import refreshed  # each job's accuracy delta against the FP32 job, with every job at hand

    return [job_row(r, r.get("run_id", run_id)) for r in refreshed(results)]
