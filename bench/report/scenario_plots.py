"""Plots of the scenarios: a sustained job's timeline and latency against a swept value (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..fmt import fmt_duration_ms  # noqa: E402
from .plots import _save, log_axis  # noqa: E402


def timeline(title: str, intervals: List[Dict[str, Any]], analysis: Dict[str, Any], out: Path) -> Path:
    """Latency p50/p99 per interval on top; below, on the same time axis, every device signal the intervals
    carry (temperature, CPU clock, power, other processes' share of the cores); the step's onset marked. A signal
    this device did not have is named as absent rather than drawn empty."""
    t = [float(i["t_s"]) + float(i.get("duration_s") or 0) / 2 for i in intervals]
    signals = [("temp_c", "temperature °C", "tab:red"), ("freq_mhz", "CPU clock MHz", "tab:purple"),
               ("power_mw", "power mW", "tab:green"), ("other_busy_share", "other processes' share of cores",
                                                       "tab:gray")]
    present = [s for s in signals if any(isinstance(i.get(s[0]), (int, float)) for i in intervals)]
    absent = [s[1] for s in signals if s not in present]
    fig, axes = plt.subplots(1 + len(present), 1, sharex=True, figsize=(9, 2.6 + 1.5 * len(present)),
                             gridspec_kw={"height_ratios": [2.2] + [1] * len(present)}, squeeze=False)
    ax = axes[0][0]
    for key, label, style in (("p50_ms", "p50", "-o"), ("p99_ms", "p99", "--.")):
        ax.plot(t, [i.get(key) for i in intervals], style, ms=3, label=label)
    ax.set_ylabel("latency ms")
    vals = [i.get(k) for i in intervals for k in ("p50_ms", "p99_ms") if isinstance(i.get(k), (int, float))]
    if vals and max(vals) / max(min(vals), 1e-9) > 20:
        log_axis(ax, "y")
    onset = analysis.get("onset_s")
    for row in axes:
        if onset is not None:
            row[0].axvline(onset, color="black", lw=1, ls=":")
        row[0].grid(alpha=0.3)
    if onset is not None:
        ax.annotate("step %+.0f %% at %.0f s: %s" % (100 * (analysis.get("step_rel") or 0), onset,
                                                   analysis.get("cause") or "?"),
                    (onset, 1.0), xycoords=("data", "axes fraction"), xytext=(4, -12), textcoords="offset points",
                    fontsize=8)
    ax.legend(fontsize=8, loc="upper left")
    for row, (key, label, colour) in zip(axes[1:], present):
        row[0].plot(t, [i.get(key) for i in intervals], "-", color=colour)
        row[0].set_ylabel(label, fontsize=8)
    axes[-1][0].set_xlabel("time since the start of the sustained run (s; one point per interval)")
    sub = "first p50 %s → steady %s (x%.2f)" % (fmt_duration_ms(analysis.get("first_p50_ms")),
                                                fmt_duration_ms(analysis.get("steady_p50_ms")),
                                                analysis.get("slowdown") or 0)
    ax.set_title("%s\n%s%s" % (title, sub, "; not recorded here: " + ", ".join(absent) if absent else ""),
                 fontsize=9)
    return _save(fig, out)


def sweep(title: str, series: Dict[str, List[Dict[str, Any]]], sweep_name: str, budget_ms: Optional[float],
          out: Path) -> Path:
    """p50 and p99 against the swept value, one line pair per configuration, the budget as a horizontal line."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for k, (label, rows) in enumerate(sorted(series.items())):
        rows = sorted(rows, key=lambda r: r["sweep_value"])
        xs = [r["sweep_value"] for r in rows]
        colour = "C%d" % (k % 10)
        ax.plot(xs, [r.get("p50_ms") for r in rows], "-o", color=colour, ms=4, label="%s p50" % label)
        ax.plot(xs, [r.get("p99_ms") for r in rows], "--^", color=colour, ms=4, label="%s p99" % label)
    if budget_ms:
        ax.axhline(budget_ms, color="red", lw=1.2, label="budget %g ms" % budget_ms)
    xs_all = sorted({r["sweep_value"] for rows in series.values() for r in rows})
    if xs_all and xs_all[-1] / max(xs_all[0], 1e-9) >= 8:
        log_axis(ax, "x", base=2)
    ax.set_xticks(xs_all)
    ax.set_xticklabels([("%g" % x) for x in xs_all])
    ax.set_xlabel(sweep_name)
    ax.set_ylabel("latency ms")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, out)
