"""A report section and its blocks: markdown lines, and for the HTML template text/table blocks and figures. The
section builders (render.py, accuracy_report.py, scenario_report.py) fill them; nothing here imports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..fmt import fmt, sig3


@dataclass
class Section:
    """One report section: markdown lines, and for the HTML template text/table blocks and figures.
    ``collapsed`` sections (reference material) start folded in the HTML."""

    title: str
    md: List[str] = field(default_factory=list)
    blocks: List[Dict[str, Any]] = field(default_factory=list)
    images: List[Tuple[str, Path]] = field(default_factory=list)
    collapsed: bool = False


#: Columns holding words (left-aligned); every other column holds numbers.
_TEXT_KEYS = {"run_id", "top", "device", "model", "variant", "runtime", "runtime_version", "status", "valid",
              "validity_warnings", "note", "unit", "peak_used", "bound", "what", "method", "op_type", "power_sensor",
              "power_boundary", "throttled", "throttle_evidence", "power_reason", "inputs", "requested", "used",
              "dropped", "nodes", "gpu_mb", "os", "kernel", "arch", "cpu_model", "board_model", "cpu_governor",
              "python_version", "agent_version", "group", "agree", "round_p50s", "memory_total", "time_utc", "options",
              "verdict"}


#: Columns of sentences, which may wrap (every other cell stays on one line).
_WRAP_KEYS = {"validity_warnings", "note", "method", "throttle_evidence", "power_reason", "options", "why_not_valid",
              "nodes", "cpu_model", "bound"}

#: Columns of identifiers that may break after a hyphen (a run id) or at a space (a time): narrow, and whole.
_BREAK_KEYS = {"run_id", "time_utc"}


def wrap_class(key: str) -> str:
    """The HTML class of a column's cells: ``wrap`` (sentences), ``brk`` (ids that may break), else none."""
    return "wrap" if key in _WRAP_KEYS else "brk" if key in _BREAK_KEYS else ""


def cell(key: str, value: Any) -> str:
    """One table cell: times and sizes with three significant digits (the unit is in the header)."""
    if key == "n" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if key.startswith("fidelity") and isinstance(value, float):
        return "%.4f" % value  # 0.9987 must not read as 1.00
    if isinstance(value, float) and not isinstance(value, bool) and (key.endswith(("_ms", "_mb", "_mj", "_mw", "_per_s"))
                                                                      or key in ("speedup", "speedup_low", "speedup_high", "gflop", "mbytes")):
        return sig3(value)
    return fmt(value)


def _md_table(rows: List[Dict[str, Any]], columns: List[tuple]) -> str:
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(cell(k, r.get(k)).replace("|", "/") for k, _ in columns) + " |")
    return "\n".join(lines)


def _table(section: Section, rows: List[Dict[str, Any]], columns: List[tuple],
           folded: Optional[List[tuple]] = None) -> None:
    """A table: every column in the markdown; in the HTML, ``columns`` as columns and the ``folded`` ones per
    row under a "details" fold (so a wide table fits the page and nothing is lost)."""
    section.md += [_md_table(rows, columns + list(folded or [])), ""]
    section.blocks.append({"kind": "table", "head": [h for _, h in columns] + (["details"] if folded else []),
                           "text_cols": [k in _TEXT_KEYS for k, _ in columns] + ([True] if folded else []),
                           "wrap_cols": [wrap_class(k) for k, _ in columns] + ([""] if folded else []),
                           "rows": [{"cells": [cell(k, r.get(k)) for k, _ in columns],
                                     "more": [(h, cell(k, r.get(k))) for k, h in folded or []
                                              if r.get(k) not in (None, "")],
                                     "bad": r.get("status") not in (None, "ok")} for r in rows]})


def _text(section: Section, text: str) -> None:
    section.md += [text, ""]
    section.blocks.append({"kind": "text", "text": text})


