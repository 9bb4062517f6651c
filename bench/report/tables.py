"""Rows of the comparison table, one per job, from stored results."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..analysis.accuracy import accuracy_columns
from ..analysis.energy import energy_columns
from ..analysis.scenarios import scenario_columns
from ..fmt import fmt, fmt_duration_ms, fmt_rate, sig3  # noqa: F401  (re-exported: the report's formatting)
from ..stats import summarize


def _mb(value: Optional[int]) -> Optional[float]:
    return round(value / 1e6, 2) if value is not None else None


def _validity(result: Dict[str, Any], stats: Dict[str, Any]) -> Dict[str, Any]:
    """The stored verdict, or one computed now for results stored before verdicts existed."""
    if result.get("status") != "ok":
        return {}
    if isinstance(result.get("validity"), dict):
        return result["validity"]
    from ..validity import verdict

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
    from ..analysis.accuracy import refreshed  # each job's accuracy delta against the FP32 job, with every job at hand

    return [job_row(r, r.get("run_id", run_id)) for r in refreshed(results)]


TERMINAL_COLUMNS = [("model", "model"), ("variant", "variant"), ("runtime", "runtime"), ("threads", "threads"),
                    ("inputs", "inputs"), ("p50_ms", "p50"), ("p99_ms", "p99"),
                    ("peak_mem_mb", "mem MB"), ("accuracy", "acc"), ("valid", "valid"),
                    ("validity_warnings", "why not")]
#: Widest a terminal cell may be (characters; longer text ends in "…"): the table fits 100 columns for the
#: usual names. The full figures and reasons are in summary.csv and the report.
TERMINAL_CELL_MAX = {"model": 14, "variant": 17, "runtime": 11, "inputs": 9, "validity_warnings": 18}
#: Columns left out of the terminal table when no row has a value in them.
TERMINAL_OPTIONAL = ("threads", "round", "accuracy")
#: Columns said once in a device's heading when every row of it has the same value.
TERMINAL_HEADING = ("runtime", "inputs", "threads")


def _clip(text: str, width: Optional[int]) -> str:
    return text if width is None or len(text) <= width else text[:width - 1] + "…"


def text_table(rows: List[Dict[str, Any]], columns: Optional[List[tuple]] = None) -> str:
    """A plain aligned table for the terminal; one block per device. The run's own table (the default columns)
    shows the decision figures within 100 columns: a job that did not measure says its status in ``valid``."""
    own = columns is None
    columns = columns or TERMINAL_COLUMNS
    if any(r.get("round") for r in rows) and ("round", "round") not in columns:
        columns = columns[:3] + [("round", "round")] + columns[3:]
    if own:
        columns = [c for c in columns if c[0] not in TERMINAL_OPTIONAL or any(r.get(c[0]) for r in rows)]
    numeric = [k.endswith(("_ms", "_mb", "_per_s")) or k in ("n", "cv", "round", "threads") for k, _ in columns]

    def cell(row: Dict[str, Any], key: str) -> str:
        if own and key == "valid" and row.get("status") not in (None, "ok"):
            return str(row.get("status"))
        if key.endswith("_ms"):
            return fmt_duration_ms(row.get(key))
        if key.endswith("_per_s"):
            return fmt_rate(row.get(key))
        return _clip(fmt(row.get(key)), TERMINAL_CELL_MAX.get(key) if own else None)

    out: List[str] = []
    devices: List[str] = []
    for r in rows:
        if r["device"] not in devices:
            devices.append(r["device"])
    for device in devices:
        sub = [r for r in rows if r["device"] == device]
        same = [k for k in TERMINAL_HEADING if own and len({fmt(r.get(k)) for r in sub}) == 1
                and any(k == c[0] for c in columns)]
        cols = [(j, c) for j, c in enumerate(columns) if c[0] not in same]
        cells = [[h for _, (_, h) in cols]] + [[cell(r, k) for _, (k, _) in cols] for r in sub]
        widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
        out.append("device: %s%s" % (device, "".join("  %s %s" % ({"inputs": "inputs", "runtime": "runtime",
                                                                     "threads": "threads"}[k], fmt(sub[0].get(k)))
                                                        for k in same if sub[0].get(k) is not None)))
        for i, line in enumerate(cells):
            out.append("  " + "  ".join(c.rjust(w) if numeric[cols[j][0]] else c.ljust(w)
                                         for j, (c, w) in enumerate(zip(line, widths))).rstrip())
            if i == 0:
                out.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(out)
