"""The comparison table in the terminal: the columns a reader scans, cells clipped to fit 100 columns."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..fmt import fmt, fmt_duration_ms, fmt_rate


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
