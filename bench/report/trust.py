"""What the report says about how far each number can be trusted: the validity of every measured job,
the agreement of interleaved rounds, and when and how each device's ceilings were measured."""

from __future__ import annotations

import datetime
import time
from typing import Any, Dict, List, Optional

from ..analysis.validity import round_groups

ROUNDS_COLUMNS = [("run_id", "run"), ("group", "job"), ("rounds", "rounds"), ("round_p50s", "p50 per round ms"),
                  ("between_pct", "between-round spread %"), ("within_pct", "within-run CI95 ± %"),
                  ("agree", "rounds agree")]


def validity_lines(results: List[Dict[str, Any]]) -> List[str]:
    """One line per measured job that has warnings: its verdict and every warning's message."""
    out = []
    for r in results:
        v = r.get("validity") if isinstance(r.get("validity"), dict) else None
        if r.get("status") != "ok" or not v or not v.get("warnings"):
            continue
        rnd = (r.get("plan") or {}).get("round")
        where = "%s / %s / %s on %s%s%s" % (r.get("model_name"), r.get("variant"), r.get("runtime_name"),
                                            r.get("device_name"), " (run %s)" % r["run_id"] if r.get("run_id") else "",
                                            ", round %d" % rnd if rnd else "")
        out.append("%s: %s — %s" % (where, "valid" if v.get("valid") else "NOT VALID", "; ".join(
            "%s%s: %s" % (w["code"], "" if w.get("severity") == "invalid" else " (caution)", w["message"])
            for w in v["warnings"])))
    return out


def rounds_rows(results: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per job measured in several rounds: round medians, between-round spread beside within-run CI."""
    by_run: Dict[str, List[Dict[str, Any]]] = {}
    for r in results:
        by_run.setdefault(r.get("run_id", ""), []).append(r)
    rows = []
    for run_id, rs in by_run.items():
        for group, g in round_groups(rs).items():
            rows.append({"run_id": run_id, "group": group, "rounds": g["rounds"],
                         "round_p50s": ", ".join("%.3f" % v for v in g["round_p50_ms"]),
                         "between_pct": 100 * g["between_rel"] if g.get("between_rel") is not None else None,
                         "within_pct": 100 * g["within_rel"] if g.get("within_rel") is not None else None,
                         "agree": {True: "yes", False: "NO"}.get(g.get("agree"), "—")})
    return rows


def _when(unix_s: Optional[float]) -> str:
    if not isinstance(unix_s, (int, float)):
        return "at an unrecorded time"
    at = datetime.datetime.fromtimestamp(unix_s, datetime.timezone.utc).isoformat(timespec="seconds")
    age = time.time() - unix_s
    return "%s (%s ago)" % (at, "%.1f h" % (age / 3600) if age < 2 * 86400 else "%.1f days" % (age / 86400))


def ceiling_provenance(ceil: Optional[Dict[str, Any]]) -> List[str]:
    """Sentences: when, how, under which conditions and versions the ceilings were measured; trusted?"""
    if not ceil or ceil.get("error"):
        return []
    lines = ["Measured %s, %s." % (_when(ceil.get("measured_at_unix_s")),
                                  "reused from the cache" if ceil.get("cached") else "fresh for this run")]
    if ceil.get("measured_because"):
        lines.append("Measured because: %s." % ceil["measured_because"])
    state = ceil.get("state") if isinstance(ceil.get("state"), dict) else {}
    if state:
        rts = ", ".join("%s %s" % (k, v) for k, v in sorted((state.get("runtime_versions") or {}).items()) if v)
        lines.append("Agent %s, %s, numpy %s; CPU governor %s; power mode %s." % (
            state.get("agent_version"), rts or "no runtime", state.get("numpy_version"),
            ", ".join(state.get("governors") or []) or "not readable (%s)" % state.get("governors_reason", "?"),
            state.get("power_mode") or "none (%s)" % state.get("power_mode_reason", "?")))
    during = ((ceil.get("conditions") or {}).get("during") or {})
    if isinstance(during.get("other_busy_cores"), (int, float)):
        lines.append("While measuring (%.0f s): other processes kept %.2f of %d core(s) busy, steal %.2f; load "
                     "average %s." % (during.get("seconds") or 0, during["other_busy_cores"],
                                      len(during.get("cores") or []), during.get("steal_cores") or 0.0,
                                      during.get("loadavg_1m")))
    trust = ceil.get("trust") if isinstance(ceil.get("trust"), dict) else None
    if trust is None:
        lines.append("Trust: unknown (measured before ceilings recorded their spread and conditions).")
    elif trust.get("trusted"):
        lines.append("Trust: stable and measured on a quiet device.")
    else:
        lines.append("Trust: NOT trusted — %s." % "; ".join(trust.get("reasons") or []))
    if ceil.get("stale_reasons"):
        lines.append("Stale (kept with --ceilings keep): %s." % "; ".join(ceil["stale_reasons"]))
    for s in ceil.get("suspect") or []:
        lines.append("SUSPECT: %s." % s.get("reason"))
    if ceil.get("remeasured_after_suspect"):
        lines.append("Re-measured once during this run because a job ran above its roof.")
    return lines
