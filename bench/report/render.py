"""report.md and a self-contained report.html (plots embedded as base64 PNG) for one or more runs."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Dict, List, Tuple

from ..store import RunStore
from . import plots
from .tables import fmt, rows_for

TABLE_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                 ("runtime_version", "version"), ("status", "status"), ("n", "n"), ("p50_ms", "p50 ms"),
                 ("p50_ci95_low_ms", "p50 CI95 low"), ("p50_ci95_high_ms", "p50 CI95 high"),
                 ("p90_ms", "p90 ms"), ("p99_ms", "p99 ms"), ("mean_ms", "mean ms"), ("cv", "CV"),
                 ("load_ms", "load ms"), ("first_inference_ms", "first ms"), ("peak_mem_mb", "peak mem MB"),
                 ("model_file_mb", "file MB")]

ENERGY_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                  ("energy_per_inference_mj", "energy/inf mJ"), ("energy_idle_sub_mj", "idle-sub mJ"),
                  ("avg_power_mw", "avg power mW"), ("inferences_per_j", "inf/J"), ("power_sensor", "sensor"),
                  ("power_boundary", "boundary"), ("throttled", "throttled"), ("throttle_evidence", "evidence"),
                  ("power_reason", "why no energy")]

DEVICE_FACTS = [("os", "OS"), ("kernel", "kernel"), ("arch", "arch"), ("cpu_model", "CPU"),
                ("board_model", "board"), ("cpu_cores_logical", "logical cores"),
                ("memory_total_bytes", "memory bytes"), ("cpu_governor", "governor"),
                ("python_version", "Python"), ("agent_version", "agent")]

METHOD = (
    "Each job runs in a fresh agent process on the device. Latency is `time.perf_counter_ns` around the "
    "runtime's own run call (ONNX Runtime `InferenceSession.run`, LiteRT `Interpreter.invoke`) on inputs "
    "generated from the model's signature with a fixed seed. After the model load and a separately timed first "
    "inference, a warm-up runs, then the timed window runs until both the minimum run count and the minimum "
    "time are met. Every raw latency is kept (samples.csv). Percentiles interpolate linearly between order "
    "statistics; the median's 95% CI is a percentile bootstrap (2000 resamples). Peak memory is the agent "
    "process's peak RSS over its RSS just before the model load (VmHWM, reset per phase). Energy comes from "
    "the device's own sensor, sampled beside the run on the agent's monotonic clock: a cumulative counter "
    "differenced at the window edges, or power samples integrated (trapezoid); the idle baseline is taken just "
    "before the window. Where a device has no sensor the energy fields are empty and the reason is given."
)


def _collect(stores: List[RunStore]) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    results: List[Dict[str, Any]] = []
    for s in stores:
        for r in s.results():
            r = dict(r)
            r["run_id"] = s.run_id
            results.append(r)
    return results, rows_for(results)


def _device_states(results: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    states: Dict[str, Dict[str, Any]] = {}
    for r in results:
        facts = r.get("device")
        if isinstance(facts, dict) and r.get("device_name") not in states:
            states[r["device_name"]] = facts
    return states


def _md_table(rows: List[Dict[str, Any]], columns: List[tuple]) -> str:
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k)).replace("|", "/") for k, _ in columns) + " |")
    return "\n".join(lines)


def _html_table(rows: List[Dict[str, Any]], columns: List[tuple]) -> str:
    head = "".join("<th>%s</th>" % html.escape(h) for _, h in columns)
    body = []
    for r in rows:
        cls = ' class="bad"' if r.get("status") not in (None, "ok") else ""
        body.append("<tr%s>%s</tr>" % (cls, "".join("<td>%s</td>" % html.escape(fmt(r.get(k))) for k, _ in columns)))
    return "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, "".join(body))


def render_report(stores: List[RunStore], out_dir: Path) -> Dict[str, Path]:
    """Write report.md, report.html, summary.csv and plots/*.png into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results, rows = _collect(stores)
    devices: List[str] = []
    for r in rows:
        if r["device"] not in devices:
            devices.append(r["device"])
    plot_paths: List[Tuple[str, Path]] = []
    for device in devices:
        path = plots.latency_distribution([r for r in results if r.get("device_name") == device], device,
                                          out_dir / "plots" / ("latency_%s.png" % device))
        plot_paths.append(("Latency distribution — %s" % device, path))
    states = _device_states(results)
    problems = [r for r in rows if r["status"] != "ok"]
    run_ids = ", ".join(s.run_id for s in stores)

    # Markdown
    md = ["# edgebench report", "", "Runs: %s" % run_ids, "", "## Comparison", "",
          _md_table(rows, TABLE_COLUMNS), ""]
    if problems:
        md += ["## Jobs without a measurement", ""]
        md += ["- `%s` %s/%s/%s on %s: **%s** — %s" % (r["status"], r["model"], r["variant"], r["runtime"],
                                                       r["device"], r["status"], r["note"]) for r in problems]
        md.append("")
    measured = [r for r in rows if r["status"] == "ok"]
    md += ["## Energy and thermal state", "", _md_table(measured, ENERGY_COLUMNS), ""]
    md += ["## Latency distributions", ""]
    md += ["![%s](%s)" % (title, p.relative_to(out_dir).as_posix()) for title, p in plot_paths]
    md += ["", "## Device states", ""]
    state_rows = [dict({"device": d}, **{k: facts.get(k) for k, _ in DEVICE_FACTS}) for d, facts in states.items()]
    md += [_md_table(state_rows, [("device", "device")] + DEVICE_FACTS), "", "## Method", "", METHOD, ""]
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md))

    # HTML, self-contained
    imgs = []
    for title, p in plot_paths:
        data = base64.b64encode(p.read_bytes()).decode()
        imgs.append('<figure><img alt="%s" src="data:image/png;base64,%s"><figcaption>%s</figcaption></figure>'
                    % (html.escape(title), data, html.escape(title)))
    problem_html = ""
    if problems:
        problem_html = "<h2>Jobs without a measurement</h2><ul>%s</ul>" % "".join(
            "<li><b>%s</b> %s / %s / %s on %s — %s</li>" % tuple(html.escape(str(x)) for x in (
                r["status"], r["model"], r["variant"], r["runtime"], r["device"], r["note"])) for r in problems)
    page = """<!doctype html><html><head><meta charset="utf-8"><title>edgebench report</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;
font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee}
td:nth-child(-n+4){text-align:left}tr.bad td{background:#fff3f0}img{max-width:100%%}</style></head><body>
<h1>edgebench report</h1><p>Runs: %s</p><h2>Comparison</h2>%s%s<h2>Energy and thermal state</h2>%s<h2>Latency distributions</h2>%s
<h2>Device states</h2>%s<h2>Method</h2><p>%s</p></body></html>""" % (
        html.escape(run_ids), _html_table(rows, TABLE_COLUMNS), problem_html,
        _html_table([r for r in rows if r["status"] == "ok"], ENERGY_COLUMNS), "".join(imgs),
        _html_table(state_rows, [("device", "device")] + DEVICE_FACTS), html.escape(METHOD))
    html_path = out_dir / "report.html"
    html_path.write_text(page)
    return {"md": md_path, "html": html_path, "plots": out_dir / "plots"}
