"""report.md and a self-contained report.html (plots embedded as base64 PNG) for one or more runs.

Sections: comparison table, jobs without a measurement, framework comparison, roofline, bandwidth
bottleneck, energy efficiency, energy and thermal table, latency distributions, device ceilings,
device states, method.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Dict, List

from device_agents.phases import MEASURED_PHASES
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from ..analysis import compare
from ..analysis.operators import operator_rows
from ..analysis.roofline import accelerator_provider, bound_text, precision_of, roof_note, unplaced_reason
from .history_view import COLUMNS as HISTORY_COLUMNS
from .history_view import _cell as history_cell
from .history_view import report_rows as history_rows
from ..paths import safe_child, slug_name
from ..history.regressions import method_text
from ..analysis.peaks import peak_for
from ..results.store import RunStore
from ..analysis import accuracy
from . import plots, trust
from .drawing import draw, side_by_side
from .accuracy_report import accuracy_section
from .scenario_report import scenario_section
from .headline import headline
from .sections import Section, _table, _text
from ..analysis.rows import rows_for

TABLE_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                 ("runtime_version", "version"), ("threads", "threads"), ("inputs", "inputs"), ("round", "round"),
                 ("status", "status"), ("valid", "valid"),
                 ("validity_warnings", "validity warnings"), ("n", "n"), ("p50_ms", "p50 ms"),
                 ("p50_ci95_low_ms", "p50 CI95 low ms"), ("p50_ci95_high_ms", "p50 CI95 high ms"),
                 ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("throughput_per_s", "inf/s"), ("cv", "CV"),
                 ("load_ms", "load ms"), ("first_inference_ms", "first ms"), ("peak_mem_mb", "peak mem MB"),
                 ("model_file_mb", "file MB"), ("accuracy_metric", "accuracy metric"), ("accuracy", "accuracy"),
                 ("accuracy_ci95_low", "accuracy CI95 low"), ("accuracy_ci95_high", "accuracy CI95 high"),
                 ("accuracy_delta", "accuracy Δ vs FP32"), ("energy_per_inference_mj", "energy/inf mJ"),
                 ("budget_ms", "budget p99 ms"), ("meets_budget", "meets budget"), ("scenario", "scenario"),
                 ("steady_p50_ms", "steady p50 ms"), ("slowdown", "slowdown ×"), ("cause", "cause"),
                 ("sweep", "swept"), ("sweep_value", "value")]
#: The Comparison table's columns in the HTML (what a choice is made on); the others fold per row.
DECISION_KEYS = {"run_id", "device", "model", "variant", "runtime", "round", "inputs", "valid", "validity_warnings", "p50_ms",
                 "p50_ci95_low_ms", "p50_ci95_high_ms", "p99_ms", "throughput_per_s", "peak_mem_mb",
                 "energy_per_inference_mj", "accuracy", "meets_budget"}
#: Decision columns shown even when no row has a value (an empty energy column says there was none).
ALWAYS_SHOWN = {"valid", "energy_per_inference_mj"}
#: The History table's columns folded per row in the HTML (the reasons are in Validity and the Comparison table).
HISTORY_FOLDED = {"validity_warnings"}
#: The Roofline table's columns folded per row in the HTML: how the point was computed.
ROOFLINE_FOLDED = {"peak_used", "gflop", "mbytes", "attained_gbps"}
ENERGY_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                  ("energy_per_inference_mj", "energy/inf mJ"), ("energy_idle_sub_mj", "idle-sub mJ"),
                  ("avg_power_mw", "avg power mW"), ("inferences_per_j", "inf/J"), ("power_sensor", "sensor"),
                  ("power_boundary", "boundary"), ("throttled", "throttled"), ("throttle_evidence", "evidence"),
                  ("power_reason", "why no energy")]
COMPARISON_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                      ("round", "round"), ("valid", "valid"), ("p50_ms", "p50 ms"),
                      ("baseline_p50_ms", "fp32 ORT p50 ms"), ("speedup", "speed-up"),
                      ("speedup_low", "speed-up low"), ("speedup_high", "speed-up high"),
                      ("fidelity_cosine", "fidelity (cosine)")]
ROOFLINE_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                    ("unit", "unit"), ("peak_used", "compute roof from"),
                    ("gflop", "GFLOP/inf"), ("mbytes", "MB moved/inf"), ("arithmetic_intensity", "AI FLOP/B"),
                    ("attained_gops", "attained G/s"), ("attained_gbps", "attained GB/s"), ("roof_gops", "roof G/s"),
                    ("bound", "bound"), ("efficiency_pct", "efficiency %"), ("note", "note")]
OPERATOR_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("op_type", "operator"),
                    ("ms_per_inference", "ms/inference"), ("time_share_pct", "time %"), ("gflop", "GFLOP"),
                    ("attained_gops", "attained G/s"), ("arithmetic_intensity", "AI FLOP/B"), ("bound", "bound"),
                    ("note", "note")]
DEVICE_FACTS = [("os", "OS"), ("kernel", "kernel"), ("arch", "arch"), ("cpu_model", "CPU"),
                ("board_model", "board"), ("cpu_cores_logical", "logical cores"),
                ("memory_total", "memory"), ("cpu_governor", "governor"),
                ("python_version", "Python"), ("agent_version", "agent")]

METHOD = (
    "Each job runs in a fresh agent process on the device (on the local machine and SSH devices, unless "
    "EDGEBENCH_WARM_AGENT=0, a process forked per job from a warm agent that started the interpreter and imported "
    "numpy once; the line below "
    "says how each job's process was made). Latency is `time.perf_counter_ns` around the "
    "runtime's own run call (ONNX Runtime `InferenceSession.run`, LiteRT `Interpreter.invoke`) on inputs "
    "generated from the model's signature with a fixed seed. After the model load and a separately timed first "
    "inference, a warm-up runs, then the timed window runs until both the minimum run count and the minimum "
    "time are met. Every raw latency is kept (samples.csv). Percentiles interpolate linearly between order "
    "statistics; the median's 95% CI is the distribution-free order-statistics (binomial) interval. "
    "Peak memory is the agent "
    "process's peak RSS over its RSS just before the model load (VmHWM, reset per phase). Energy comes from "
    "the device's own sensor, sampled beside the run on the agent's monotonic clock: a cumulative counter "
    "differenced at the window edges, or power samples integrated (trapezoid); the idle baseline is taken just "
    "before the window. Where a device has no sensor the energy fields are empty and the reason is given. "
    "Roofline: FLOPs and bytes (weights + activations read and written) per inference come from the model's "
    "ONNX graph; attained = FLOPs / p50; ceilings are measured on the device (a large matrix product through "
    "each runtime per precision, trials of best-of-10 repeated until the last three agree within 3 %; STREAM "
    "triad bandwidth with arrays >= 4x the last-level cache, repeated the same way) and stored with their time, "
    "spread, conditions and versions; efficiency = attained / min(peak, AI x bandwidth). The bandwidth roof is "
    "DRAM's (STREAM triad): a memory-bound model whose bytes fit in the last-level cache can run above it; any "
    "other point above its roof means the ceiling is too low, and it is re-measured once. "
    "Validity: each measured job gets a verdict from its own samples (CV, CI width of the median, modes of the "
    "distribution, level shifts inside the window, sample count, timing sanity) and from the conditions the "
    "agent recorded (other processes' CPU time on the job's cores, steal, load, throttling); the thresholds and "
    "the figures behind them are in bench/analysis/validity.py and the README. A job that is not valid is still shown, "
    "flagged with the reason."
)


OVERHEAD_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("job_s", "job wall s"),
                    ("measured_s", "measured s"), ("agent_overhead_s", "agent overhead s"),
                    ("host_overhead_s", "host overhead s"), ("top", "largest overhead phases")]


def overhead_rows(stores: List[Any], results: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per measured job: where its wall time went (from the agent's and the host's phase clocks)."""
    rows = []
    for r in results:
        agent = r.get("phases_s") if isinstance(r.get("phases_s"), dict) else None
        host = (r.get("host") or {}).get("phases_s") if isinstance(r.get("host"), dict) else None
        if not agent or not isinstance(host, dict):
            continue
        measured = sum(float(agent.get(k) or 0.0) for k in MEASURED_PHASES)
        agent_over = max(0.0, float(agent.get("total") or 0.0) - measured)
        host_over = max(0.0, float(host.get("total") or 0.0) - float(host.get("exec") or 0.0)) + float(
            host.get("agent_outside") or 0.0) + float(host.get("summarize") or 0.0)
        phases = {"agent %s" % k: float(v) for k, v in agent.items() if k not in MEASURED_PHASES + ("total", "other")}
        phases.update({"host %s" % k: float(v) for k, v in host.items() if k not in ("total", "exec", "other")})
        top = sorted(phases.items(), key=lambda kv: -kv[1])[:3]
        rows.append({"device": r.get("device_name"), "model": r.get("model_name"), "variant": r.get("variant"),
                     "job_s": r.get("host_wall_s"), "measured_s": measured, "agent_overhead_s": agent_over,
                     "host_overhead_s": host_over, "top": ", ".join("%s %.2f" % kv for kv in top if kv[1] >= 0.005)})
    return rows


def history_table(hist: List[Dict[str, Any]]) -> tuple:
    """(rows, columns, folded columns) of the report's History table from ``history_view.report_rows``: cells as
    `bench history` prints them (the CI95 from its low and high, "{}" as no options, the time to the minute);
    columns empty in every row left out, the reasons folded per row."""
    rows = [dict(r, **{k: history_cell(k, r) for k in ("time_utc", "ci95", "options")}) for r in hist]
    shown = [c for c in HISTORY_COLUMNS if any(r.get(c[0]) not in (None, "", "—") for r in rows)]
    return rows, [c for c in shown if c[0] not in HISTORY_FOLDED], [c for c in shown if c[0] in HISTORY_FOLDED]


def _break_id(text: Any) -> Markup:
    """A time breaks at its space; a run id only after its date (``20261207-`` / ``043950-6750``)."""
    text = str(text)
    if " " in text or "-" not in text:
        return Markup(escape(text))
    head, rest = text.split("-", 1)
    return Markup('%s-<wbr><span class="nw">%s</span>' % (escape(head), escape(rest)))


def short_bound(text: Any) -> Any:
    """The bound without the roofs' doubts repeated in every row (they are in the plot's title and in Device
    ceilings)."""
    if isinstance(text, str) and "; roof not trusted: " in text:
        return text.split("; roof not trusted: ")[0] + "; roof not trusted (see Device ceilings)"
    return text


def _inline_code(text: str) -> Markup:
    """Escape ``text`` and show its `backticked` parts as code (the method text is written for markdown)."""
    parts = str(escape(text)).split("`")
    return Markup("".join("<code>%s</code>" % p if i % 2 else p for i, p in enumerate(parts)))


def _page(sections: List[Section], head: Dict[str, Any], runs: str) -> str:
    env = Environment(loader=PackageLoader("bench.report", "templates"), autoescape=select_autoescape(["j2"]))
    env.filters["code"] = _inline_code
    env.filters["brk"] = _break_id
    shown = []
    for s in sections:
        figures = [{"title": t, "data": base64.b64encode(p.read_bytes()).decode()} for t, p in s.images]
        shown.append({"title": s.title, "anchor": slug_name(s.title.lower().replace(" ", "-")),
                      "blocks": s.blocks, "figures": figures, "collapsed": s.collapsed})
    return env.get_template("report.html.j2").render(sections=shown, head=head, runs=runs)


PLACEMENT_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("unit", "unit"),
                     ("requested", "requested"), ("used", "used"), ("dropped", "dropped"), ("nodes", "nodes per provider"),
                     ("p50_ms", "end-to-end p50 ms"), ("device_ms", "device compute p50 ms"),
                     ("resident_ms", "resident call wall p50 ms"), ("h2d_ms", "host→device ms"),
                     ("d2h_ms", "device→host ms"), ("gpu_mb", "GPU memory MB (load / steady)"), ("note", "note")]


def placement_rows(results: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per job that chose between units or providers (a GPU job, or one whose provider was dropped)."""
    rows = []
    for r in results:
        pl = r.get("placement") or {}
        if not pl or (pl.get("compute_unit", "cpu") == "cpu" and not pl.get("dropped")):
            continue
        dt = r.get("device_timing") or {}
        gpu = (r.get("memory") or {}).get("gpu") or {}
        phases = gpu.get("per_phase_bytes") or {}
        mem = " / ".join("%.0f" % (phases[k] / 1e6) if phases.get(k) is not None else "—"
                         for k in ("load", "steady_state")) if phases else "—"
        notes = list(pl.get("warnings") or [])
        if dt.get("reason"):
            notes.append("no device time: %s" % dt["reason"])
        if gpu.get("is_estimate"):
            notes.append("GPU memory: %s" % gpu.get("method"))
        rows.append({"device": r.get("device_name"), "model": r.get("model_name"), "variant": r.get("variant"),
                     "unit": pl.get("compute_unit"), "requested": ", ".join(pl.get("requested") or []),
                     "used": ", ".join(pl.get("used") or []), "dropped": ", ".join(pl.get("dropped") or []) or "—",
                     "nodes": ", ".join("%s %d" % (k.replace("ExecutionProvider", ""), v)
                                        for k, v in sorted((pl.get("nodes_per_provider") or {}).items())) or "—",
                     "p50_ms": (r.get("stats") or {}).get("p50_ms"), "device_ms": dt.get("device_compute_ms_p50"),
                     "resident_ms": dt.get("resident_wall_ms_p50"), "h2d_ms": dt.get("h2d_ms_p50"),
                     "d2h_ms": dt.get("d2h_ms_p50"), "gpu_mb": mem, "note": "; ".join(notes) or (
                         r.get("reason") if r.get("status") != "ok" else "")})
    return rows


def render_report(stores: List[RunStore], out_dir: Path) -> Dict[str, Path]:
    """Write report.md, report.html and plots/*.png into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with side_by_side():  # the plots are drawn when the sections are built, before the pages embed them
        results: List[Dict[str, Any]] = []
        for s in stores:
            for r in s.results():
                results.append(dict(r, run_id=s.run_id))
        rows = rows_for(results)
        merged = len(stores) > 1

        def cols(columns: List[tuple]) -> List[tuple]:
            """Merged reports carry a run column in every table; a round column only where rounds exist."""
            out = [c for c in columns if c[0] != "round" or any(r.get("round") for r in rows)]
            return [("run_id", "run")] + out if merged else out

        devices: List[str] = []
        for r in rows:
            if r["device"] not in devices:
                devices.append(r["device"])
        ceilings = compare.load_ceilings([s.root for s in stores])
        plot_dir = out_dir / "plots"
        sections: List[Section] = []

        sec = Section("Comparison")
        decision = [c for c in cols(TABLE_COLUMNS) if c[0] in DECISION_KEYS
                    and (c[0] in ALWAYS_SHOWN or any(r.get(c[0]) not in (None, "") for r in rows))]
        _table(sec, rows, decision, [c for c in cols(TABLE_COLUMNS) if c[0] not in DECISION_KEYS])
        sections.append(sec)
        lines = trust.validity_lines(results)
        sec = Section("Validity", collapsed=len(lines) > 6)  # the headline has the counts; many reasons fold away
        measured = [r for r in rows if r["status"] == "ok"]
        invalid = [r for r in measured if r.get("valid") == "NO"]
        _text(sec, "%d of %d measured job(s) are valid. Thresholds and their reasons: bench/analysis/validity.py (README, "
                   "Validity)." % (len(measured) - len(invalid), len(measured)))
        for line in lines:
            _text(sec, line)
        rounds = trust.rounds_rows(results)
        if rounds:
            _text(sec, "Interleaved rounds: the spread of the rounds' medians ((max - min) / median) beside the "
                       "within-run 95 % CI half-width; rounds that differ by more than 5 % and 3x the within-run "
                       "half-width do not reproduce.")
            _table(sec, rounds, trust.ROUNDS_COLUMNS if merged else trust.ROUNDS_COLUMNS[1:])
        sections.append(sec)
        try:
            hist = history_rows([s.run_id for s in stores], stores[0].root.parent)
        except Exception as exc:  # the history is an extra (a full disk, a catalogue another version wrote)
            hist = []
            _text(sec, "History: not available (%s: %s)" % (type(exc).__name__, str(exc)[:200]))
        if hist:
            sec = Section("History")
            _text(sec, "These runs against the earlier runs of the same configuration in results/ (python -m bench "
                       "history for all of it): " + method_text())
            _table(sec, *history_table(hist))
            sections.append(sec)
        problems = [r for r in rows if r["status"] != "ok"]
        if problems:
            sec = Section("Jobs without a measurement")
            for r in problems:
                _text(sec, "%s / %s / %s on %s: %s — %s" % (r["model"], r["variant"], r["runtime"], r["device"],
                                                             r["status"], r["note"]))
            sections.append(sec)

        comp = compare.comparison_rows(rows, results)
        sec = Section("Framework comparison")
        _text(sec, "Speed-up of p50 latency over the same model's onnx-fp32 on ONNX Runtime on the same device; "
                   "fidelity is the cosine similarity of outputs to the FP32 PyTorch reference where measured.")
        _table(sec, comp, cols(COMPARISON_COLUMNS))
        if any(r.get("p50_ms") for r in comp):
            sec.images.append(("Framework comparison", draw(plots.framework_comparison, comp, plot_dir / "comparison.png")))
        sections.append(sec)

        boundaries = scenario_section(results, rows, plot_dir, sections)
        sweet = accuracy_section(results, rows, plot_dir, sections)
        roof = Section("Roofline")
        bw_sec = Section("Bandwidth bottleneck")
        energy = Section("Energy efficiency")
        ceil_sec = Section("Device ceilings")
        roof_rows: List[Dict[str, Any]] = []
        op_rows: List[Dict[str, Any]] = []
        for device in devices:
            dev_results = [r for r in results if r.get("device_name") == device]
            measured, sheet, note = compare.device_ceilings(ceilings.get(device))
            points = compare.roofline_points(dev_results, measured)
            for r in dev_results:
                if r.get("status") == "ok":
                    peak = peak_for(measured["peaks"], r.get("runtime_name", ""), precision_of(r.get("variant", "")),
                                    r.get("compute_unit") or "cpu", accelerator_provider(r))
                    unit_bw = (measured["bandwidth_gbps"] if (r.get("compute_unit") or "cpu") == "cpu" else
                               (measured["peaks"].get("%s:%s/bandwidth" % (r.get("compute_unit"), accelerator_provider(r)))
                                or {}).get("gbps"))
                    op_rows += [dict(o, run_id=r.get("run_id")) for o in
                                operator_rows(r, peak["gops"] if peak else None, unit_bw)]
            llc = ((ceilings.get(device) or {}).get("bandwidth") or {}).get("llc_bytes")
            for p in points:
                roof_rows.append(dict(p, gflop=p["flops"] / 1e9, mbytes=p["bytes"] / 1e6, bound=short_bound(bound_text(p)),
                                      efficiency_pct=100 * p["efficiency"] if p.get("efficiency") is not None else None,
                                      note=p.get("no_roof_reason") or roof_note(p, llc if p.get("unit", "cpu") == "cpu"
                                                                                else None)))
            for r in dev_results:  # a measured job with no point still gets its row, saying why
                why = unplaced_reason(r)
                if why:
                    roof_rows.append({"device": device, "model": r.get("model_name"), "variant": r.get("variant"),
                                      "runtime": r.get("runtime_name"), "unit": r.get("compute_unit") or "cpu",
                                      "note": why})
            for unit, unit_points, unit_measured in compare.by_unit(points, measured):
                if not unit_points:
                    continue
                title = device if unit == "cpu" else "%s %s (%s)" % (
                    device, unit.upper(), str(unit_measured.get("provider")).replace("ExecutionProvider", " EP"))
                name = "roofline_%s.png" % slug_name(device if unit == "cpu" else "%s-%s-%s" % (
                    device, unit, str(unit_measured.get("provider")).replace("ExecutionProvider", "")))
                roof.images.append(("Roofline — %s" % title, draw(plots.roofline, 
                    title, unit_points, unit_measured, sheet if unit == "cpu" else None, safe_child(plot_dir, name))))
            cpu_points = [p for p in points if (p.get("unit") or "cpu") == "cpu"]
            if any(p.get("params") for p in cpu_points):
                bw_sec.images.append(("Bandwidth bottleneck — %s" % device, draw(plots.bandwidth_bottleneck, 
                    device, cpu_points, safe_child(plot_dir, "bandwidth_%s.png" % slug_name(device)))))
            else:
                _text(bw_sec, "%s: no CPU job with FLOPs, bytes and parameter counts to place (a failed job, a model "
                              "file without analysis, or a job at another input shape than the one analysed)." % device)
            if any((p.get("unit") or "cpu") != "cpu" for p in points):
                _text(bw_sec, "%s: jobs on an accelerator are left out of this CPU/STREAM plot; their attained bandwidth "
                              "is in the roofline table beside their unit's own ceiling." % device)
            epoints, reason = compare.energy_points(dev_results)
            if epoints:
                energy.images.append(("Energy efficiency — %s" % device, draw(plots.energy_efficiency, 
                    device, epoints, reason, safe_child(plot_dir, "energy_%s.png" % slug_name(device)))))
            else:
                _text(energy, "%s: no energy per inference — %s" % (device, reason))
            c = ceilings.get(device) or {}
            crow = [{"device": device, "what": k, "value": v.get("gops") or v.get("gbps"),
                     "unit": "GB/s" if v.get("gbps") else "GOP/s" if k.endswith("int8") else "GFLOP/s",
                     "method": v.get("method") + ("; provider options %s" % v["provider_options"]
                                                  if v.get("provider_options") else "") if v.get("method") else None,
                     "spread_pct": 100 * v["spread_rel"] if v.get("spread_rel") is not None else None}
                    for k, v in sorted(measured["peaks"].items())]
            for item in c.get("gpu") or []:
                if item.get("reason"):
                    crow.append({"device": device, "what": "gpu:%s %s %s" % (item.get("provider"), item.get("kind"),
                                                                              item.get("precision")),
                                 "value": None, "unit": "", "method": item.get("reason")})
            bw = c.get("bandwidth") or {}
            for kernel in ("copy", "scale", "add", "triad"):
                if bw.get("%s_gbps" % kernel):
                    spread = bw.get("%s_spread_rel" % kernel)
                    crow.append({"device": device, "what": "STREAM %s" % kernel, "value": bw["%s_gbps" % kernel],
                                 "unit": "GB/s", "method": bw.get("method"),
                                 "spread_pct": 100 * spread if spread is not None else None})
            for item in c.get("compute") or []:
                if item.get("gops") is None:
                    crow.append({"device": device, "what": "%s %s" % (item.get("precision"), item.get("runtime")),
                                 "value": None, "unit": "", "method": item.get("reason")})
            _text(ceil_sec, "%s — %s" % (device, note))
            for line in trust.ceiling_provenance(c):
                _text(ceil_sec, line)
            across = {str(a.get("figure")): a for a in c.get("across_measurements") or [] if isinstance(a, dict)}
            for row in crow:
                key = row["what"].replace("STREAM triad", "triad") if row.get("what") else ""
                a = across.get(key) or {}
                row["across_pct"] = 100 * a["spread_rel"] if isinstance(a.get("spread_rel"), (int, float)) else None
                row["change_pct"] = (100 * a["change_vs_previous_rel"] if isinstance(a.get("change_vs_previous_rel"),
                                                                                     (int, float)) else None)
                row["measurements"] = a.get("n")
            if c.get("kept_untrusted"):
                _text(ceil_sec, "%s — not trusted, kept rather than measured again: %s (--ceilings remeasure measures "
                                "them now)" % (device, c["kept_untrusted"]))
            if crow:
                _table(ceil_sec, crow, [("device", "device"), ("what", "ceiling"), ("value", "measured"), ("unit", "unit"),
                                        ("spread_pct", "spread of last trials %"),
                                        ("change_pct", "vs previous measurement %"),
                                        ("across_pct", "spread across measurements %"), ("measurements", "measurements"),
                                        ("method", "method")])
            if c.get("sweep"):
                ceil_sec.images.append(("Working-set sweep — %s" % device,
                                        draw(plots.working_set_sweep, device, c["sweep"], bw.get("llc_bytes"),
                                                                safe_child(plot_dir, "sweep_%s.png" % slug_name(device)))))
        _table(roof, roof_rows, [c for c in cols(ROOFLINE_COLUMNS) if c[0] not in ROOFLINE_FOLDED],
               [c for c in cols(ROOFLINE_COLUMNS) if c[0] in ROOFLINE_FOLDED])
        sections += [roof]
        ops = Section("Per-operator placement")
        if op_rows:
            _text(ops, "From ONNX Runtime's profile; FLOPs and bytes per operator type from the exported graph.")
            _table(ops, op_rows, cols(OPERATOR_COLUMNS))
        else:
            ops.collapsed = True
            _text(ops, "No job ran with ONNX Runtime's profiler; add --option onnxruntime.profile=true for a "
                       "per-operator breakdown (the profiler itself slows each run).")
        sections += [ops, bw_sec, energy]
        accel = placement_rows(results)
        if accel:
            sec = Section("Placement, device time and GPU memory")
            _text(sec, "Requested vs used execution providers (a dropped one is unavailable unless allow_fallback), "
                       "nodes each provider took, and for GPU jobs: device compute time from CUDA events with inputs "
                       "resident (no copies), host wall time of the same calls, host-to-device and device-to-host "
                       "copy times of the inputs and outputs, and the agent's GPU memory (NVML). End-to-end latency "
                       "(what an application sees) is the p50 of the main table.")
            _table(sec, accel, PLACEMENT_COLUMNS)
            sections.append(sec)

        sec = Section("Energy and thermal state", collapsed=True)
        _table(sec, [r for r in rows if r["status"] == "ok"], cols(ENERGY_COLUMNS))
        sections.append(sec)
        sec = Section("Latency distributions")
        for device in devices:
            mine = [r for r in results if r.get("device_name") == device]
            if any(r.get("status") == "ok" for r in mine):
                sec.images.append(("Latency distribution — %s" % device, draw(plots.latency_distribution, 
                    mine, device, safe_child(plot_dir, "latency_%s.png" % slug_name(device)))))
            else:
                _text(sec, "%s: no job measured anything." % device)
        sections.append(sec)
        ceil_sec.collapsed = True
        sections.append(ceil_sec)
        states: Dict[str, Dict[str, Any]] = {}
        for r in results:
            if isinstance(r.get("device"), dict) and r.get("device_name") not in states:
                states[r["device_name"]] = r["device"]
        sec = Section("Device states", collapsed=True)
        _table(sec, [dict({k: f.get(k) for k, _ in DEVICE_FACTS}, device=d,
                          memory_total="%.1f GiB" % (f["memory_total_bytes"] / 2 ** 30)
                          if isinstance(f.get("memory_total_bytes"), (int, float)) else None) for d, f in states.items()],
               [("device", "device")] + DEVICE_FACTS)
        sections.append(sec)
        sec = Section("Method", collapsed=True)
        _text(sec, METHOD)
        made: Dict[str, int] = {}
        for r in results:
            how = (r.get("method") or {}).get("process") if isinstance(r.get("method"), dict) else None
            if isinstance(how, str):
                made[how[:200]] = made.get(how[:200], 0) + 1
        if made:
            _text(sec, "How the jobs' processes were made (method.process): " + "; ".join(
                "%d job(s): %s" % (n, how) for how, n in sorted(made.items(), key=lambda kv: -kv[1])) + ".")
        overhead = overhead_rows(stores, results)
        if overhead:
            _text(sec, "The harness's own cost, per job (seconds): measured = the agent's load, first inference, warm-up "
                       "and timed window; agent overhead = the rest of the agent process (interpreter start or fork, imports, "
                       "device facts, model hash, inputs, conditions); host = deploy, probe, exec outside the agent, "
                       "pull, checks and statistics. Run-level phases (plan, jobs, report) are in manifest.json "
                       "(phases_s).")
            _table(sec, overhead, OVERHEAD_COLUMNS)
        sections.append(sec)

    run_ids = ", ".join(s.run_id for s in stores)
    head = headline([s.manifest() for s in stores], rows)
    head["budget_picks"] = accuracy.budget_picks(sweet)
    head["boundaries"] = boundaries
    md = ["# edgebench report", "", "Runs: %s" % run_ids, "",
          "- **What**: %s" % head["what"], "- **Where**: %s" % head["where"], "- **Inputs**: %s" % head["inputs"],
          "- **When**: %s (UTC)" % head["when"], "- **Jobs**: %s" % head["counts"]]
    md += ["- **Command**: `%s`" % c for c in head["commands"]]
    md += ["", "Fastest valid configuration per device and model:", ""]
    md += ["- %s / %s: %s" % (w["device"], w["model"], w["text"]) for w in head["winners"]] + [""]
    if head["budget_picks"]:
        md += ["Fastest configuration within the accuracy budget:", ""]
        md += ["- %s / %s: %s" % (w["device"], w["model"], w["text"]) for w in head["budget_picks"]] + [""]
    if boundaries:
        md += ["Real-time boundary (largest swept value whose p99 meets the budget):", ""]
        md += ["- %s / %s / %s / %s: %s" % (b["device"], b["model"], b["variant"], b["runtime"], b["text"])
               for b in boundaries] + [""]
    for s in sections:
        md += ["## %s" % s.title, ""] + s.md
        md += ["![%s](%s)" % (t, p.relative_to(out_dir).as_posix()) for t, p in s.images] + [""]
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md))
    html_path = out_dir / "report.html"
    html_path.write_text(_page(sections, head, run_ids))
    return {"md": md_path, "html": html_path, "plots": plot_dir}
