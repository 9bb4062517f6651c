"""What ``python -m bench history`` and the report show from the catalogue: judged points, the changes
between two dates, a terminal table, JSON and the plot."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pandas as pd

from ..history.catalogue import Catalog, CatalogError, Filters, open_catalog
from ..history.regressions import DEFAULT_THRESHOLD, detect

#: (column, heading) of the terminal table and of the report's history table.
COLUMNS = [("time_utc", "time (UTC)"), ("run_id", "run"), ("device", "device"), ("model", "model"),
           ("variant", "variant"), ("runtime", "runtime"), ("options", "options"), ("n", "n"),
           ("p50_ms", "p50 ms"), ("ci95", "CI95 ms"), ("valid", "valid"), ("validity_warnings", "why not valid"),
           ("baseline_p50_ms", "baseline ms"),
           ("band_pct", "band ±%"), ("change_pct", "change %"), ("verdict", "verdict")]
CHANGE_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                  ("options", "options"), ("before_run", "run before"), ("before_p50_ms", "p50 before ms"),
                  ("after_run", "run after"), ("after_p50_ms", "p50 after ms"), ("change_pct", "change %"),
                  ("ci_overlap", "CIs overlap")]


def judged_points(cat: Catalog, filters: Filters, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Points matching ``filters`` with their verdicts; each is judged against its whole earlier history
    (also the part before ``since``)."""
    judged = detect(cat.points(filters, times=False), threshold)
    if len(judged):
        t = pd.to_datetime(judged["time_utc"])
        keep = pd.Series(True, index=judged.index)
        if filters.since is not None:
            keep &= t >= pd.Timestamp(filters.since)
        if filters.until is not None:
            keep &= t <= pd.Timestamp(filters.until)
        judged = judged[keep]
    return judged.sort_values(["time_utc", "run_id", "device", "model", "variant"]).reset_index(drop=True)


def changes(cat: Catalog, filters: Filters) -> pd.DataFrame:
    """Per configuration: the last usable point at or before ``since`` (else the first one after it) and
    the last usable one at or before ``until``, with the change of p50 and whether their CIs overlap."""
    pts = cat.points(filters, times=False)
    rows: List[Dict[str, Any]] = []
    pts = pts[pts["valid"].fillna(True).astype(bool)].copy() if len(pts) else pts
    if pts.empty:
        return pd.DataFrame(columns=[c for c, _ in CHANGE_COLUMNS])
    pts["t"] = pd.to_datetime(pts["time_utc"])
    since = pd.Timestamp(filters.since) if filters.since is not None else None
    until = pd.Timestamp(filters.until) if filters.until is not None else None
    for _, g in pts.sort_values("t").groupby("config_key", sort=True):
        upto = g[g["t"] <= until] if until is not None else g
        if since is not None:
            before = g[g["t"] <= since]
            first = before.iloc[-1] if len(before) else (upto.iloc[0] if len(upto) else None)
        else:
            first = upto.iloc[0] if len(upto) else None
        if first is None or not len(upto) or upto.iloc[-1]["run_id"] == first["run_id"]:
            continue
        last = upto.iloc[-1]
        overlap = None
        if all(pd.notna(v) for v in (first["p50_ci95_low_ms"], first["p50_ci95_high_ms"], last["p50_ci95_low_ms"],
                                     last["p50_ci95_high_ms"])):
            overlap = bool(last["p50_ci95_low_ms"] <= first["p50_ci95_high_ms"] and
                           first["p50_ci95_low_ms"] <= last["p50_ci95_high_ms"])
        rows.append({"device": last["device"], "model": last["model"], "variant": last["variant"],
                     "runtime": last["runtime"], "options": last["options"], "before_run": first["run_id"],
                     "before_p50_ms": first["p50_ms"], "after_run": last["run_id"], "after_p50_ms": last["p50_ms"],
                     "change_pct": 100 * (last["p50_ms"] / first["p50_ms"] - 1) if first["p50_ms"] else None,
                     "ci_overlap": overlap})
    return pd.DataFrame(rows, columns=[c for c, _ in CHANGE_COLUMNS])


def _cell(key: str, row: Dict[str, Any]) -> str:
    if key == "ci95":
        lo, hi = row.get("p50_ci95_low_ms"), row.get("p50_ci95_high_ms")
        return "—" if lo is None or hi is None or pd.isna(lo) or pd.isna(hi) else "%.4g–%.4g" % (lo, hi)
    v = row.get(key)
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "—"
    if key == "time_utc":
        return pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")
    if key == "valid" or isinstance(v, bool):
        return "yes" if v else "NO"
    if key == "options":
        return "" if v == "{}" else str(v)
    if key == "band_pct":
        return "%.1f" % float(v)
    if key == "change_pct":
        return "%+.1f" % float(v)
    if key == "n":
        return "%d" % int(v)
    if isinstance(v, float):
        return "%.4g" % v
    return str(v)


def text_table(rows: Sequence[Dict[str, Any]], columns: Sequence[tuple]) -> str:
    """An aligned plain-text table; columns empty in every row are left out."""
    cells = [{k: _cell(k, r) for k, _ in columns} for r in rows]
    cols = [(k, h) for k, h in columns if any(c[k] not in ("", "—") for c in cells)]
    widths = {k: max([len(h)] + [len(c[k]) for c in cells]) for k, h in cols}
    numeric = {"n", "p50_ms", "baseline_p50_ms", "band_pct", "change_pct", "before_p50_ms", "after_p50_ms"}
    out = ["  ".join(h.ljust(widths[k]) for k, h in cols).rstrip(),
           "  ".join("-" * widths[k] for k, _ in cols)]
    for c in cells:
        out.append("  ".join(c[k].rjust(widths[k]) if k in numeric else c[k].ljust(widths[k]) for k, _ in cols).rstrip())
    return "\n".join(out)


def _records(df: pd.DataFrame) -> List[Dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, (pd.Timestamp, datetime.datetime)):
                v = pd.Timestamp(v).isoformat()
            elif v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            clean[k] = v
        out.append(clean)
    return out


def report_rows(run_ids: Sequence[str], base: Optional[Path] = None,
                threshold: float = DEFAULT_THRESHOLD) -> List[Dict[str, Any]]:
    """For a report of ``run_ids``: each of their points judged against its history in the catalogue
    (COLUMNS; ``why`` says how). Only ``run_ids`` are brought up to date in the catalogue (the rest of the
    history as the last full scan, ``bench history``, left it). Empty when the catalogue is held by another
    process."""
    try:
        with open_catalog(base, log=lambda line: None, wait_s=10.0, runs=list(run_ids)) as cat:
            judged = judged_points(cat, Filters(), threshold)
    except CatalogError:
        return []
    return _records(judged[judged["run_id"].isin(list(run_ids))])
