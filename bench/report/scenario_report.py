"""The report's "Sustained and real-time scenarios" section: per sustained job its timeline and verdict, the
ranking at the start against the ranking at steady state, the stream table, the offline batch sweep, and per
swept configuration latency against the swept value with the budget's real-time boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from ..analysis.scenarios import boundary_text, budget_boundary, rank_change
from ..paths import safe_child, slug_name
from .drawing import draw
from .sections import Section, _table, _text

SUSTAINED_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                     ("duration_s", "duration s"), ("intervals", "intervals"), ("first_p50_ms", "first p50 ms"),
                     ("steady_p50_ms", "steady p50 ms"), ("slowdown", "slowdown ×"), ("onset_s", "step at s"),
                     ("step_pct", "step %"), ("cause", "cause"), ("evidence", "evidence"),
                     ("energy_per_inference_mj", "energy/inf mJ (whole run)")]
RANK_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                ("rank_start", "rank at start"), ("rank_steady", "rank at steady state"),
                ("first_p50_ms", "first p50 ms"), ("steady_p50_ms", "steady p50 ms"), ("changed", "rank changed")]
STREAM_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                  ("fps", "fps"), ("deadline_ms", "deadline ms"), ("frames", "frames"), ("missed", "missed"),
                  ("miss_pct", "miss %"), ("dropped", "dropped"), ("p50_ms", "p50 from arrival ms"),
                  ("p99_ms", "p99 from arrival ms"), ("sustainable", "sustainable")]
OFFLINE_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                   ("batch", "batch"), ("inferences_per_s", "inferences/s"), ("p50_ms", "p50 ms per call"),
                   ("note", "note")]
BOUNDARY_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                    ("sweep", "swept"), ("budget_ms", "budget p99 ms"), ("largest_meeting", "largest meeting it"),
                    ("its_p99_ms", "its p99 ms"), ("first_missing", "first missing"), ("missing_p99_ms", "its p99 ms ")]


def _who(r: Dict[str, Any]) -> Dict[str, Any]:
    return {"device": r.get("device_name"), "model": r.get("model_name"), "variant": r.get("variant"),
            "runtime": r.get("runtime_name")}


def scenario_section(results: List[Dict[str, Any]], rows: List[Dict[str, Any]], plot_dir: Path,
                     sections: List[Any]) -> List[Dict[str, Any]]:
    """Append the section (when any job ran a scenario or a sweep) to ``sections``; return the sweeps'
    real-time boundaries (for the headline)."""
    from . import scenario_plots

    ok = [r for r in results if r.get("status") == "ok" and isinstance(r.get("scenario"), dict)]
    swept = [r for r in rows if r.get("sweep")]
    if not ok and not swept:
        return []
    sec = Section("Sustained and real-time scenarios")
    sustained = [r for r in ok if r["scenario"].get("name") == "sustained"]
    if sustained:
        _text(sec, "Sustained: back-to-back inference for the whole duration; each interval's p50/p90/p99 and the "
                   "device's temperature, clock, power and other processes' CPU share were aggregated on the device as "
                   "it closed. Steady state = median p50 of the last third; a step and its cause come from the "
                   "recorded evidence only (cause 'unknown' when none explains it).")
        srows = []
        for r in sustained:
            sc = r["scenario"]
            a = sc.get("sustained") or {}
            srows.append(dict(_who(r), duration_s=sc.get("duration_s"), intervals=len(sc.get("intervals") or []),
                              first_p50_ms=a.get("first_p50_ms"), steady_p50_ms=a.get("steady_p50_ms"),
                              slowdown=a.get("slowdown"), onset_s=a.get("onset_s"),
                              step_pct=100 * a["step_rel"] if isinstance(a.get("step_rel"), (int, float)) else None,
                              cause=a.get("cause"), evidence="; ".join(a.get("evidence") or []),
                              energy_per_inference_mj=sc.get("energy_per_inference_mj")))
            name = "timeline_%s.png" % slug_name("%s-%s-%s-%s" % (r.get("device_name"), r.get("model_name"),
                                                                  r.get("variant"), r.get("job_id")))[:150]
            sec.images.append(("Timeline — %s / %s / %s on %s" % (r.get("model_name"), r.get("variant"),
                                                                 r.get("runtime_name"), r.get("device_name")),
                               draw(scenario_plots.timeline, "%s · %s · %s on %s" % (
                                   r.get("model_name"), r.get("variant"), r.get("runtime_name"), r.get("device_name")),
                                   sc.get("intervals") or [], a, safe_child(plot_dir, name))))
        _table(sec, srows, SUSTAINED_COLUMNS)
        for device in sorted({s["device"] for s in srows}):
            ranked = rank_change([s for s in srows if s["device"] == device])
            if len(ranked) > 1:
                _text(sec, "%s: the ranking at the start against the ranking at steady state%s." % (
                    device, " — it CHANGED" if any(x["changed"] for x in ranked) else " (unchanged)"))
                _table(sec, ranked, RANK_COLUMNS)
    streams = [r for r in ok if r["scenario"].get("name") == "stream"]
    if streams:
        _text(sec, "Stream: frames arrive on a fixed clock into a queue of depth one (a newer frame replaces a "
                   "waiting one); latency counts from a frame's arrival; a dropped frame counts as missed. "
                   "Sustainable: at most 1 % of frames miss their deadline.")
        st_rows = []
        for r in sorted(streams, key=lambda r: (r.get("device_name"), r.get("model_name"), r.get("variant"),
                                                r["scenario"]["stream"].get("fps"))):
            s = r["scenario"]["stream"]
            st_rows.append(dict(_who(r), fps=s.get("fps"), deadline_ms=s.get("deadline_ms"), frames=s.get("frames"),
                                missed=s.get("missed"), dropped=s.get("dropped"), p50_ms=s.get("p50_ms"),
                                p99_ms=s.get("p99_ms"), sustainable="yes" if s.get("sustainable") else "NO",
                                miss_pct=100 * s["miss_rate"] if isinstance(s.get("miss_rate"), (int, float)) else None,
                                status="ok" if s.get("sustainable") else "missed"))
        _table(sec, st_rows, STREAM_COLUMNS)
    offline = [r for r in ok if r["scenario"].get("name") == "offline"]
    if offline:
        _text(sec, "Offline: the most inferences per second over a batch sweep (inferences = batch × calls).")
        off_rows = []
        for r in offline:
            for b in (r["scenario"].get("offline") or {}).get("batches") or []:
                off_rows.append(dict(_who(r), batch=b.get("batch"), inferences_per_s=b.get("inferences_per_s"),
                                     p50_ms=b.get("p50_ms"), note=b.get("reason") or ""))
        _table(sec, off_rows, OFFLINE_COLUMNS)
    bounds: List[Dict[str, Any]] = []
    if swept:
        budget = next((r.get("budget_ms") for r in swept if r.get("budget_ms")), None)
        groups: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
        for r in swept:
            if r.get("p50_ms") is None:
                continue
            key = "%s · %s" % (r.get("device"), r.get("model"))
            groups.setdefault(key, {}).setdefault("%s · %s" % (r.get("variant"), r.get("runtime")), []).append(r)
        for key, series in sorted(groups.items()):
            sweep_name = next(iter(series.values()))[0]["sweep"]
            sec.images.append(("Latency against %s — %s" % (sweep_name, key), draw(scenario_plots.sweep,
                "Latency against %s — %s%s" % (sweep_name, key, ", budget %g ms" % budget if budget else ""),
                series, sweep_name, budget, safe_child(plot_dir, "latency_vs_%s_%s.png" % (slug_name(sweep_name), slug_name(key)[:110])))))
        if budget:
            bounds = budget_boundary(swept, budget)
            _text(sec, "Real-time boundary: per configuration, the largest swept value whose p99 meets the %g ms "
                       "budget." % budget)
            _table(sec, bounds, BOUNDARY_COLUMNS)
            for b in bounds:
                b["text"] = boundary_text(b)
    sections.append(sec)
    return bounds
