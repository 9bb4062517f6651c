"""The report's headline: what was measured, where, when, with which command, and which configuration
won per device and model (the fastest *valid* job, with its median's 95 % CI)."""

from __future__ import annotations

import shlex
from typing import Any, Dict, List, Optional

from ..fmt import fmt_duration_ms


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


def _configs(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One entry per configuration (run, device, model, variant, runtime): its rounds folded together.
    With several rounds the figure is the median of the valid rounds' p50s, and the configuration is
    eligible only when the rounds agree (spread of the round medians at most 5 % or 3x the within-run
    CI half-width, as in the report's rounds table)."""
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        if r.get("p50_ms"):
            key = (r.get("run_id"), r.get("device"), r.get("model"), r.get("variant"), r.get("runtime"))
            groups.setdefault(key, []).append(r)
    out = []
    for key, g in groups.items():
        valid = sorted((r for r in g if r.get("valid") == "yes"), key=lambda r: r["p50_ms"])
        p50s = sorted(r["p50_ms"] for r in g)
        entry = {"device": key[1], "model": key[2], "variant": key[3], "runtime": key[4], "rounds": len(g),
                 "valid_rounds": len(valid), "fastest": min(g, key=lambda r: r["p50_ms"]), "agree": True}
        if len(g) > 1:
            median = p50s[len(p50s) // 2]
            within = [((r.get("p50_ci95_high_ms") or 0) - (r.get("p50_ci95_low_ms") or 0)) / 2 / r["p50_ms"]
                      for r in g if r.get("p50_ci95_high_ms") is not None and r.get("p50_ci95_low_ms") is not None]
            between = (p50s[-1] - p50s[0]) / median
            entry["agree"] = not (between > 0.05 and between > 3 * (sorted(within)[len(within) // 2] if within else 0))
            entry["spread_pct"] = 100 * between
        if valid:
            mid = valid[len(valid) // 2]
            entry.update(p50_ms=mid["p50_ms"], row=mid)
        out.append(entry)
    return out


def _describe(c: Dict[str, Any]) -> str:
    if c["rounds"] > 1:
        return "%s — p50 %s (median of %d valid of %d rounds; rounds spread %.0f %%)" % (
            _config(c["row"]), fmt_duration_ms(c["p50_ms"]), c["valid_rounds"], c["rounds"], c["spread_pct"])
    return "%s — p50 %s%s" % (_config(c["row"]), fmt_duration_ms(c["p50_ms"]), _ci(c["row"]))


def winners(rows: List[Dict[str, Any]]) -> List[Dict[str, str]]:
    """Per (device, model): the fastest valid configuration (its rounds agreeing), how much faster it is
    than the next one, or why there is no winner (the fastest measured one is then named, flagged)."""
    out: List[Dict[str, str]] = []
    keys: List[tuple] = []
    for r in rows:
        if (r.get("device"), r.get("model")) not in keys:
            keys.append((r.get("device"), r.get("model")))
    configs = _configs(rows)
    for device, model in keys:
        mine = [c for c in configs if (c["device"], c["model"]) == (device, model)]
        eligible = sorted((c for c in mine if c.get("p50_ms") and c["agree"]), key=lambda c: c["p50_ms"])
        if eligible:
            best = eligible[0]
            text = _describe(best)
            if len(eligible) > 1:
                text += ", %.2f× faster than %s" % (eligible[1]["p50_ms"] / best["p50_ms"], _config(eligible[1]["row"]))
            verdict = "winner"
        elif mine:
            best = min(mine, key=lambda c: c["fastest"]["p50_ms"])
            why = best["fastest"].get("validity_warnings") or ("its rounds disagree" if not best["agree"] else "?")
            text = ("no valid, reproducible measurement; fastest measured: %s — p50 %s, not valid (%s)"
                    % (_config(best["fastest"]), fmt_duration_ms(best["fastest"]["p50_ms"]), why))
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
