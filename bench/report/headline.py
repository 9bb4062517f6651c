"""The report's headline: what was measured, where, when, with which command, and which configuration
won per device and model (the fastest *valid* job, with its median's 95 % CI)."""

from __future__ import annotations

import shlex
from typing import Any, Dict, List, Optional

from .tables import fmt_duration_ms


def _command(argv: Any) -> Optional[str]:
    if not isinstance(argv, list) or not argv:
        return None
    return "python -m bench " + " ".join(shlex.quote(str(a)) for a in argv[1:])


def _ci(row: Dict[str, Any]) -> str:
    lo, hi = row.get("p50_ci95_low_ms"), row.get("p50_ci95_high_ms")
    if lo is None or hi is None:
        return ""
    return " (95 %% CI %s – %s)" % (fmt_duration_ms(lo), fmt_duration_ms(hi))


def _config(row: Dict[str, Any]) -> str:
    return "%s on %s" % (row.get("variant"), row.get("runtime"))


def winners(rows: List[Dict[str, Any]]) -> List[Dict[str, str]]:
    """Per (device, model): the fastest valid job, how much faster it is than the next valid one, or
    why there is no winner (nothing valid: the fastest measured one is named, flagged)."""
    out: List[Dict[str, str]] = []
    keys: List[tuple] = []
    for r in rows:
        if (r.get("device"), r.get("model")) not in keys:
            keys.append((r.get("device"), r.get("model")))
    for device, model in keys:
        mine = [r for r in rows if (r.get("device"), r.get("model")) == (device, model) and r.get("p50_ms")]
        valid = sorted((r for r in mine if r.get("valid") == "yes"), key=lambda r: r["p50_ms"])
        if valid:
            best = valid[0]
            text = "%s — p50 %s%s" % (_config(best), fmt_duration_ms(best["p50_ms"]), _ci(best))
            if len(valid) > 1:
                text += ", %.2f× faster than %s" % (valid[1]["p50_ms"] / best["p50_ms"], _config(valid[1]))
            verdict = "winner"
        elif mine:
            best = min(mine, key=lambda r: r["p50_ms"])
            text = ("no valid measurement; fastest measured: %s — p50 %s, not valid (%s)"
                    % (_config(best), fmt_duration_ms(best["p50_ms"]), best.get("validity_warnings") or "?"))
            verdict = "none valid"
        else:
            text, verdict = "nothing measured", "none"
        out.append({"device": str(device), "model": str(model), "verdict": verdict, "text": text})
    return out


def headline(manifests: List[Dict[str, Any]], rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Everything the top of the report says, as plain strings."""
    models = sorted({str(r.get("model")) for r in rows if r.get("model")})
    configs = sorted({"%s/%s" % (r.get("variant"), r.get("runtime")) for r in rows if r.get("variant")})
    devices = sorted({str(r.get("device")) for r in rows if r.get("device")})
    measured = [r for r in rows if r.get("status") == "ok"]
    valid = [r for r in measured if r.get("valid") == "yes"]
    shapes = sorted({str(r.get("inputs")) for r in measured if r.get("inputs")})
    created = sorted(str(m.get("created_at")) for m in manifests if m.get("created_at"))
    return {
        "what": "%d model(s) (%s) × %d configuration(s) (%s)" % (len(models), ", ".join(models), len(configs),
                                                                ", ".join(configs)),
        "where": ", ".join(devices),
        "when": (created[0] if len(created) == 1 else "%s … %s" % (created[0], created[-1])) if created else "—",
        "inputs": ", ".join(shapes) or "—",
        "commands": [c for c in (_command(m.get("command")) for m in manifests) if c],
        "counts": "%d job(s): %d measured, %d valid, %d without a measurement"
                  % (len(rows), len(measured), len(valid), len(rows) - len(measured)),
        "winners": winners(rows),
    }
