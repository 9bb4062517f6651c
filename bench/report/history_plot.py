"""The history plot: p50 latency over time with its 95 % CI band, one panel per (device, model), one line
per variant/runtime/options; every run marked (a grey line at the run's first job, its id on top: all
points of a run sit on its line); regressions and invalid runs highlighted."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import pandas as pd  # noqa: E402

#: Most panels drawn; further (device, model) pairs are named in a note on the figure.
MAX_PANELS = 12
#: Up to this many runs in a panel, each run's line carries its id (the end of it).
RUN_LABELS = 12
VERDICT_STYLE = {"slower": dict(marker="o", s=170, facecolors="none", edgecolors="red", linewidths=2.2, zorder=5),
                 "faster": dict(marker="o", s=170, facecolors="none", edgecolors="green", linewidths=2.2, zorder=5)}


def _short(run_id: str) -> str:
    """``20261122-205711-6cea`` → ``205711-6cea`` (the date is on the time axis); other ids as they are."""
    return run_id[9:] if re.fullmatch(r"\d{8}-\d{6}-\w+", run_id) else run_id[-16:]


def _series_label(row: Any) -> str:
    opts = row["options"] if row["options"] not in (None, "{}") else ""
    return "%s · %s%s" % (row["variant"], row["runtime"], " " + opts if opts else "")


def history_plot(judged: pd.DataFrame, out: Path, title: str = "") -> Path:
    """Write ``out`` (PNG) from judged points (``bench.history.regressions.detect`` output) and return it."""
    panels: List[Any] = list(judged.groupby(["device", "model"], sort=True)) if len(judged) else []
    shown = panels[:MAX_PANELS]
    cols = 1 if len(shown) <= 1 else 2
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(7.5 * cols, 4.0 * rows), squeeze=False)
    run_times = judged.groupby("run_id")["time_utc"].min().sort_values() if len(judged) else pd.Series(dtype=object)
    for ax in axes.ravel()[len(shown):]:
        ax.set_visible(False)
    if not shown:
        ax = axes[0][0]
        ax.set_visible(True)
        ax.text(0.5, 0.5, "no measured runs match", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, ((device, model), g) in zip(axes.ravel(), shown):
        marks = run_times[run_times.index.isin(g["run_id"])]
        for t in marks:
            ax.axvline(t, color="0.85", linewidth=0.8, zorder=0)
        if 0 < len(marks) <= RUN_LABELS:
            top = ax.secondary_xaxis("top")
            top.set_xticks(list(marks), labels=[_short(str(r)) for r in marks.index], rotation=35, fontsize=6,
                           color="0.4", ha="left")
            top.tick_params(length=0)
        for label, s in g.assign(_label=g.apply(_series_label, axis=1)).groupby("_label", sort=True):
            s = s.sort_values("time_utc")
            x = pd.to_datetime(s["run_id"].map(run_times))  # every point of a run on its run's line
            y = s["p50_ms"].astype(float)
            lo = s["p50_ci95_low_ms"].astype(float)
            hi = s["p50_ci95_high_ms"].astype(float)
            line, = ax.plot(x, y, "-", linewidth=1.2, label=label, zorder=3)
            color = line.get_color()
            ax.fill_between(x, lo, hi, color=color, alpha=0.18, linewidth=0, zorder=2)
            ax.errorbar(x, y, yerr=[(y - lo).clip(lower=0).fillna(0), (hi - y).clip(lower=0).fillna(0)], fmt="none",
                        ecolor=color, elinewidth=0.9, capsize=3, zorder=3)
            usable = s["verdict"] != "invalid"
            ax.scatter(x[usable], y[usable], color=color, s=22, zorder=4)
            ax.scatter(x[~usable], y[~usable], facecolors="white", edgecolors=color, marker="X", s=46, zorder=4,
                       linewidths=1.0)
            for verdict, style in VERDICT_STYLE.items():
                hit = s["verdict"] == verdict
                if hit.any():
                    ax.scatter(x[hit], y[hit], **style)
                    for xi, yi, ci in zip(x[hit], y[hit], s["change_pct"][hit]):
                        ax.annotate("%s %+.0f %%" % (verdict, float(ci)), (xi, yi), xytext=(6, 6),
                                    textcoords="offset points", fontsize=7.5,
                                    color="red" if verdict == "slower" else "green")
        ax.set_title("%s on %s" % (model, device), fontsize=10)
        ax.set_ylabel("p50 latency (ms), band: 95 % CI")  # (log when the series differ tenfold, below)
        tops = pd.concat([g["p50_ci95_high_ms"], g["p50_ms"]]).astype(float)
        positive = tops[tops.notna() & (tops > 0)]
        top = positive.max()  # NaN where no run has a CI (too few samples for one)
        medians = g.groupby(g.apply(_series_label, axis=1))["p50_ms"].median().astype(float)
        if len(medians) > 1 and medians.min() > 0 and medians.max() / medians.min() >= 10:
            # series 10x apart: a log axis, so one slow series does not squash the others flat
            ax.set_yscale("log")
            ax.set_ylim(bottom=float(positive.min()) / 1.5, top=float(top) * 1.5)
            ax.set_ylabel("p50 latency (ms, log), band: 95 % CI")
            ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: "%g" % v))  # 300, not 3×10²
            ax.yaxis.set_minor_formatter(mticker.FuncFormatter(
                lambda v, _: "%g" % v if str("%g" % v)[0] in "25" else ""))  # 20, 50, 200, 500 between decades
        elif pd.notna(top):
            ax.set_ylim(bottom=0, top=float(top) * 1.25)
        ax.margins(x=0.08)
        if len(marks) == 1:  # one run: an hour around it, not matplotlib's default years either side
            at = pd.Timestamp(marks.iloc[0])
            ax.set_xlim(at - pd.Timedelta(minutes=30), at + pd.Timedelta(minutes=30))
        locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    note = "grey lines: runs · X: run not valid (not judged) · red ring: regression (slower) · green ring: faster"
    if len(panels) > len(shown):
        note += " · %d more device/model pair(s) not drawn: filter with --device/--model" % (len(panels) - len(shown))
    fig.suptitle((title + "\n" if title else "") + note, fontsize=8.5)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
