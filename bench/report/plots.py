"""Plots as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402


#: Dots drawn per job in the latency distribution: beyond this many, an evenly spaced subset (in time order) — the
#: box and whiskers always come from every run.
MAX_DOTS = 2000


def log_axis(ax: Any, which: str, base: float = 10) -> None:
    """A log scale on ``which`` ("x" or "y") with plain tick labels (``100``, ``0.01``, ``1e5``): matplotlib's
    default writes them as mathtext (10²), whose parser costs ~10 ms per label — most of a report's plotting time."""
    getattr(ax, "set_%sscale" % which)("log", base=base)
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_formatter(_PlainLogFormatter(base))
    axis.set_minor_formatter(_PlainLogFormatter(base, labelOnlyBase=False))  # labels minor ticks on short spans


class _PlainLogFormatter(matplotlib.ticker.LogFormatter):
    """matplotlib's choice of which log ticks to label, each written as ``%g`` (0.2, 30, 1e+06)."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return "%g" % x


def latency_distribution(results: List[Dict[str, Any]], device: str, out: Path) -> Path:
    """One horizontal box-and-strip plot per device: the box and whiskers from every raw latency of every measured
    job, the dots from every run (up to MAX_DOTS per job, evenly spaced in time order; the axis label says so)."""
    ok = [r for r in results if r.get("status") == "ok" and r.get("latencies_ms")]
    rounds = [((r.get("plan") or {}).get("round") or 0) for r in ok]
    labels = ["%s · %s · %s%s" % (r["model_name"], r["variant"], r["runtime_name"],
                                  " · round %d" % k if any(rounds) else "") for r, k in zip(ok, rounds)]
    data = [np.asarray(r["latencies_ms"], dtype=float) for r in ok]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.55 * max(1, len(ok))))
    if data:
        ax.boxplot(data, vert=False, whis=(1, 99), showfliers=False, widths=0.5)
        for i, d in enumerate(data, start=1):
            shown = d[np.linspace(0, len(d) - 1, MAX_DOTS).astype(int)] if len(d) > MAX_DOTS else d
            jitter = i + ((np.arange(len(shown)) % 7) - 3) * 0.04
            ax.scatter(shown, jitter, s=4, alpha=0.35, color="tab:blue", linewidths=0)
        most = max(len(d) for d in data)
        dots = "every run" if most <= MAX_DOTS else "%s evenly spaced runs per job (of up to %s)" % (
            format(MAX_DOTS, ","), format(most, ","))
        ax.set_yticks(range(1, len(labels) + 1))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xlabel("latency per inference (ms) — box: quartiles, whiskers: p1–p99 of every run, dots: %s" % dots)
        lo = min(float(d.min()) for d in data)
        hi = max(float(d.max()) for d in data)
        if hi / max(lo, 1e-9) > 20:
            log_axis(ax, "x")
    else:
        ax.text(0.5, 0.5, "no successful measurements on this device", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_yticks([])
    ax.invert_yaxis()  # plan order from the top
    ax.set_title("Latency distribution on %s" % device, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight", pad_inches=0.25)  # long tick labels and annotations are never cut off
    plt.close(fig)
    return out


def _label(p: Dict[str, Any]) -> str:
    return "%s · %s · %s" % (p["model"], p["variant"], p["runtime"])


def _labels(points: List[Dict[str, Any]]) -> List[str]:
    """Each point's label; where two points of a merged report read alike, each carries its run id."""
    base = [_label(p) for p in points]
    return [b + (" · %s" % p["run_id"] if base.count(b) > 1 and p.get("run_id") else "") for b, p in zip(base, points)]


#: Above this many points, points carry numbers and a key beside the axes instead of overlapping text.
DIRECT_LABELS = 8


#: Where a point's number may go (offsets in points from the point), tried in this order.
_SPOTS = [(5, 3), (5, -9), (-11, 3), (-11, -9), (5, 12), (-11, 12), (-3, -17), (-3, 19), (14, -3), (-20, -3),
          (14, 12), (-20, 12), (14, -17), (-20, -17), (24, 3), (-30, 3), (24, -9), (-30, -9), (5, 26), (-11, 26),
          (5, -24), (-11, -24), (24, 17), (-30, 17), (24, -21), (-30, -21), (36, -3), (-42, -3)]


def _label_points(fig: Any, ax: Any, xs: List[float], ys: List[float], labels: List[str], key: bool = True,
                  numbers: Optional[List[str]] = None) -> None:
    """One point: its label beside it. Several: each carries a short number, placed at the first spot around it
    that covers no other point and no number already placed (greedy, in display units; call after the axes'
    scales and limits are set), and a key of the numbers sits beside the axes, below the legend — labels never
    cover points, each other or the legend, whatever their number. ``key=False``: the caller places the key (one
    key for two axes numbered alike); ``numbers``: the points' own numbers (default 1, 2, …)."""
    if not labels:
        return
    if len(labels) == 1 and numbers is None:
        ax.annotate(labels[0], (xs[0], ys[0]), fontsize=7, xytext=(5, -3), textcoords="offset points")
        return
    scale = fig.dpi / 72.0  # points -> pixels
    ax.get_xlim(), ax.get_ylim()  # the autoscaled limits, now: the positions below are final
    pts = ax.transData.transform(list(zip(xs, ys)))
    taken = [(px - 4 * scale, py - 4 * scale, px + 4 * scale, py + 4 * scale) for px, py in pts]  # the markers
    for i, ((px, py), x, y) in enumerate(zip(pts, xs, ys), start=1):
        i = numbers[i - 1] if numbers else i
        w, h = (6 * len(str(i)) + 2) * scale, 9 * scale
        best, least = _SPOTS[0], None
        for dx, dy in _SPOTS:  # the first free spot; where none is free, the one covering least
            box = (px + dx * scale, py + dy * scale, px + dx * scale + w, py + dy * scale + h)
            covered = sum(max(0.0, min(box[2], b[2]) - max(box[0], b[0]))
                          * max(0.0, min(box[3], b[3]) - max(box[1], b[1])) for b in taken)
            if least is None or covered < least:
                best, least = (dx, dy), covered
            if not covered:
                break
        dx, dy = best
        pad = 1.5 * scale  # a gap around a placed number, so that two never read as one ("16" "12" as "1612")
        taken.append((px + dx * scale - pad, py + dy * scale - pad,
                      px + dx * scale + w + pad, py + dy * scale + h + pad))
        ax.annotate(str(i), (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, fontweight="bold",
                    arrowprops=None if (dx, dy) == _SPOTS[0] else {"arrowstyle": "-", "color": "gray", "lw": 0.5,
                                                                   "shrinkA": 0, "shrinkB": 3})
    if key:
        ax.text(1.01, 0.0, "\n".join("%2d  %s" % (i, text) for i, text in enumerate(labels, start=1)),
                transform=ax.transAxes, fontsize=6.5, va="bottom", ha="left", family="monospace")


def _save(fig: Any, out: Path, layout: bool = True) -> Path:
    """Write the figure; a legend or key placed outside the axes is kept in the image (tight bounding box).
    ``layout=False``: the caller laid the figure out before placing numbers by display position (a layout now
    would move the points under them)."""
    if layout and not fig.texts:  # a key placed beside the axes keeps its own layout
        fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return out


def legend_outside(ax: Any, fontsize: float = 7) -> None:
    """The legend to the right of the axes, where it covers no point or label."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


#: Marker and display name per runtime in the roofline.
RUNTIME_MARKERS = {"onnxruntime": "o", "litert": "s", "torch": "^", "executorch": "D", "tensorrt": "P", "coreml": "v"}
RUNTIME_NAMES = {"onnxruntime": "ONNX Runtime", "litert": "LiteRT", "torch": "PyTorch", "executorch": "ExecuTorch",
                 "tensorrt": "TensorRT", "coreml": "Core ML"}


def roofline(device: str, points: List[Dict[str, Any]], measured: Dict[str, Any], datasheet: Any,
             out: Path) -> Path:
    """Log-log roofline: measured ceilings solid, datasheet ceilings dashed, one labelled point per job."""
    many = len(points) > DIRECT_LABELS
    fig, ax = plt.subplots(figsize=(10 if many else 9, 6))
    bw = measured.get("bandwidth_gbps")
    peaks = {k: v for k, v in (measured.get("peaks") or {}).items() if v.get("gops")}
    ais = [p["arithmetic_intensity"] for p in points] or [1.0]
    lo, hi = min(ais) / 4, max(ais) * 4  # the points' own decades; widened below to show the roofs' ridges
    if bw:
        for entry in (measured.get("peaks") or {}).values():
            if entry.get("gops"):
                ridge = entry["gops"] / bw
                lo, hi = min(lo, ridge / 4), max(hi, ridge * 4)
    colours = {"fp32": "tab:blue", "fp16": "tab:green", "int8": "tab:red"}
    widths = {"onnxruntime": 2.2, "litert": 1.2}
    top = max([e["gops"] for e in peaks.values()] or [1.0])
    from ..analysis.roofline import UNTRUSTED_SPREAD, figure_spread

    doubts = measured.get("doubts") or []
    across = measured.get("across") or {}

    def spread(entry: Any, figure: str) -> float:  # the roof's uncertainty, drawn as a band around it
        s = figure_spread(entry, across, figure)
        return max(s, UNTRUSTED_SPREAD) if doubts else s

    if bw:
        s = spread({"spread_rel": measured.get("bandwidth_spread_rel")}, "triad")
        ax.plot([lo, top / bw], [lo * bw, top], color="dimgray", lw=2,
                label="measured %s %.1f GB/s%s" % (measured.get("bandwidth_label") or "bandwidth (STREAM triad)", bw,
                                                  " ±%.0f %%" % (100 * s) if s else ""))
        if s:
            xs = [lo, top / bw]
            ax.fill_between(xs, [x * bw / (1 + s) for x in xs], [x * bw * (1 + s) for x in xs], color="dimgray",
                            alpha=0.12, lw=0)
    for key, entry in sorted(peaks.items()):
        peak = entry["gops"]
        prec = entry["precision"]
        start = peak / bw if bw else lo
        through = entry.get("provider", entry["runtime"]).replace("ExecutionProvider", " EP")
        tf32 = " (TF32: use_tf32=1)" if prec == "fp32" and (entry.get("provider_options") or {}).get("use_tf32") == "1" else ""
        s = spread(entry, key)
        ax.plot([start, hi], [peak, peak], color=colours.get(prec, "k"), lw=widths.get(entry["runtime"], 1.5),
                label="measured %s %s%s: %.0f G%s/s%s" % (through, prec, tf32, peak, "OP" if prec == "int8" else "FLOP",
                                                          " ±%.0f %%" % (100 * s) if s else ""))
        if s:
            ax.fill_between([start, hi], [peak / (1 + s)] * 2, [peak * (1 + s)] * 2, color=colours.get(prec, "k"),
                            alpha=0.10, lw=0)
    if datasheet:
        dbw = datasheet.get("bandwidth_gbps")
        for prec in ("fp32", "fp16", "int8"):
            peak = datasheet.get(prec)
            if not peak:
                continue
            c = colours[prec]
            if dbw:
                ridge = peak / dbw
                ax.plot([lo, ridge, hi], [lo * dbw, peak, peak], color=c, lw=1.2, ls="--",
                        label="datasheet %s %.0f (%s)" % (prec, peak, datasheet.get("unit", "")[:28]))
    markers = RUNTIME_MARKERS
    for p in points:
        ax.scatter(p["arithmetic_intensity"], p["attained_gops"], s=40, zorder=5,
                   color=colours.get(p["precision"], "k"), marker=markers.get(p["runtime"], "^"),
                   edgecolors="black", linewidths=0.5)
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (FLOP per byte of weights + activations)")
    ax.set_ylabel("attained GFLOP/s (GOP/s for int8)")
    if peaks or bw:
        ax.set_title("Roofline on %s — solid: measured (band: its uncertainty)%s; %% = efficiency vs roof%s" % (
            device, ", dashed: datasheet" if datasheet else "",
            "\n" + _wrap("roofs NOT TRUSTED (bands widened): " + "; ".join(doubts), 110) if doubts else ""),
            fontsize=9)
    else:
        ax.set_title("Attained performance on %s — no ceilings measured (--ceilings skip): points without roofs"
                     % device, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    if not points:
        ax.text(0.5, 0.5, "no job with FLOP/byte counts to place", ha="center", transform=ax.transAxes)
    for i, runtime in enumerate(sorted({p["runtime"] for p in points})):  # one marker per runtime present
        ax.scatter([], [], marker=markers.get(runtime, "*"), color="white", edgecolors="black",
                   label=RUNTIME_NAMES.get(runtime, runtime) + (" (colour: precision)" if i == 0 else ""))
    legend_outside(ax)
    fig.tight_layout()  # before the numbers: they are placed by display position
    _label_points(fig, ax, [p["arithmetic_intensity"] for p in points], [p["attained_gops"] for p in points],
                  [t + (" (%.0f%%)" % (100 * p["efficiency"]) if p.get("efficiency") else "")
                   for t, p in zip(_labels(points), points)])
    return _save(fig, out, layout=False)


#: Which precision's parameter count stands for a model's variants (higher first).
_PRECISION_RANK = {"fp32": 3, "fp16": 2, "bf16": 2, "int8": 1}


def shared_params(points: List[Dict[str, Any]]) -> List[float]:
    """Per point, the parameter count to plot it at: a model's variants share its highest precision's count (a
    quantised file counts its scales and zero points, and runs stored before the count was fixed counted more), so
    every precision of one model sits on one x. A variant of that highest precision keeps its own count (a pruned
    ``onnx-fp32-layers50`` is another network); a lower one takes the nearest such count of the same model."""
    top: Dict[str, int] = {}
    for p in points:
        top[p["model"]] = max(top.get(p["model"], 0), _PRECISION_RANK.get(p.get("precision"), 0))
    out = []
    for p in points:
        refs = [q["params"] for q in points if q["model"] == p["model"] and q.get("params")
                and _PRECISION_RANK.get(q.get("precision"), 0) == top[p["model"]]]
        own = _PRECISION_RANK.get(p.get("precision"), 0) == top[p["model"]]
        out.append(float(p["params"]) if own or not refs else float(min(refs, key=lambda v: abs(v - p["params"]))))
    return out


def bandwidth_bottleneck(device: str, points: List[Dict[str, Any]], out: Path) -> Path:
    """Attained bandwidth and roofline efficiency against model parameters (one x per model: ``shared_params``)."""
    usable = [p for p in points if p.get("params")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    colours = {"fp32": "tab:blue", "fp16": "tab:green", "int8": "tab:red"}
    xs = [v / 1e6 for v in shared_params(usable)]
    for p, x in zip(usable, xs):
        ax1.scatter(x, p["attained_gbps"], s=30, color=colours.get(p["precision"], "k"), zorder=3)
        if p.get("efficiency") is not None:
            ax2.scatter(x, 100 * p["efficiency"], s=30, color=colours.get(p["precision"], "k"), zorder=3)
    if usable and usable[0].get("bandwidth_gbps"):
        ax1.axhline(usable[0]["bandwidth_gbps"], color="gray", ls="-", lw=1, label="measured STREAM triad")
    for precision in sorted({p["precision"] for p in usable if p.get("precision") in colours}):
        ax1.scatter([], [], s=30, color=colours[precision], label=precision)  # legend entry per precision
    wide = bool(xs) and max(xs) / max(min(xs), 1e-9) >= 10  # a log axis only when the sizes span a decade
    distinct = sorted({float("%.3g" % x) for x in xs})  # one tick per size as it is labelled
    for ax in (ax1, ax2):
        if wide:
            log_axis(ax, "x")
        if distinct and len(distinct) <= 8:  # tick each model's own size: every tick is labelled
            ax.set_xticks(distinct)
            ax.set_xticklabels(["%.3g" % x for x in distinct], fontsize=7, rotation=30 if len(distinct) > 4 else 0)
            ax.xaxis.set_minor_locator(plt.NullLocator())
        if distinct and not wide:
            pad = max(0.5, 0.15 * (distinct[-1] - distinct[0]))
            ax.set_xlim(distinct[0] - pad, distinct[-1] + pad)
        elif distinct:
            ax.set_xlim(distinct[0] / 1.3, distinct[-1] * 1.3)
        ax.set_xlabel("model parameters (millions%s; FP32 count for every precision)" % (", log" if wide else ""),
                      fontsize=9)
        ax.grid(True, which="both", alpha=0.25)
    for ax in (ax1, ax2):  # from zero, with room above the highest point for its number
        ax.set_ylim(0, max([y for c in ax.collections for _, y in c.get_offsets()] + [ax.get_ylim()[1] / 1.12,
                                                                                        1e-9]) * 1.12)
    ax1.set_ylabel("attained bandwidth (GB/s): bytes / p50")
    ax2.set_ylabel("efficiency vs roofline (%)")
    ax1.set_title("Memory traffic on %s (colour: precision)" % device, fontsize=10)
    ax2.set_title("How close to the roof each model runs%s" % (
        "\n(roofs NOT trusted: these efficiencies may be off by 2x, see Device ceilings)"
        if any(p.get("roof_doubts") for p in usable) else ""), fontsize=10)
    if points and not any(p.get("efficiency") is not None for p in points):
        ax2.text(0.5, 0.5, "no measured ceilings for these jobs\n(--ceilings skip, or their unit was not measured)",
                 ha="center", va="center", transform=ax2.transAxes, fontsize=9)
    if not usable:
        ax1.text(0.5, 0.5, "no job with parameter counts", ha="center", transform=ax1.transAxes)
    fig.tight_layout(w_pad=2.0)
    # numbers placed clear of each other (limits are set now), one key beside the right-hand axes
    labels = _labels(usable)
    _label_points(fig, ax1, xs, [p["attained_gbps"] for p in usable], labels, key=False)
    eff = [(x, 100 * p["efficiency"], str(i)) for i, (p, x) in enumerate(zip(usable, xs), start=1)
           if p.get("efficiency") is not None]
    if len(usable) == 1:
        _label_points(fig, ax2, [x for x, _, _ in eff], [y for _, y, _ in eff], labels[:len(eff)], key=False)
    elif eff:
        _label_points(fig, ax2, [x for x, _, _ in eff], [y for _, y, _ in eff], [n for _, _, n in eff], key=False,
                      numbers=[n for _, _, n in eff])
    if len(usable) > 1:
        ax2.text(1.03, 0.0, "\n".join("%2d  %s" % (i, t) for i, t in enumerate(labels, start=1)),
                 transform=ax2.transAxes, fontsize=6.5, va="bottom", ha="left", family="monospace")
    if usable:  # the legend beside the right-hand axes, above the key: it covers no point or number
        ax2.legend(*ax1.get_legend_handles_labels(), fontsize=7, loc="upper left", bbox_to_anchor=(1.03, 1.0),
                   borderaxespad=0.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return out


def pareto_front(points: List[tuple]) -> List[tuple]:
    """Points (x, y) not dominated by another with both x and y smaller or equal."""
    front = []
    for x, y in sorted(points):
        if not front or y < front[-1][1]:
            front.append((x, y))
    return front


def energy_efficiency(device: str, points: List[Dict[str, Any]], reason: str, out: Path) -> Path:
    """Energy per inference against latency, with the Pareto front; says why when there is no energy."""
    fig, ax = plt.subplots(figsize=(8, 5))
    usable = [p for p in points if p.get("energy_mj") is not None]
    good = [p for p in usable if p.get("valid", True)]
    bad = [p for p in usable if not p.get("valid", True)]
    if good:
        ax.scatter([p["p50_ms"] for p in good], [p["energy_mj"] for p in good], s=35, color="tab:blue", zorder=3,
                   label="valid")
    if bad:  # a figure that cannot be vouched for: hollow, never on the front
        ax.scatter([p["p50_ms"] for p in bad], [p["energy_mj"] for p in bad], s=35, facecolors="none",
                   edgecolors="tab:gray", zorder=3, label="not valid (see Validity)")
    front = pareto_front([(p["p50_ms"], p["energy_mj"]) for p in good])
    if front:
        ax.step([x for x, _ in front], [y for _, y in front], where="post", color="tab:red", lw=1.5, zorder=2,
                label="Pareto front (valid points: faster or cheaper than every other)")
        ax.scatter([x for x, _ in front], [y for _, y in front], s=90, facecolors="none", edgecolors="tab:red",
                   zorder=4)
    xs = [p["p50_ms"] for p in usable]
    ys = [p["energy_mj"] for p in usable]
    if xs and max(xs) / max(min(xs), 1e-12) > 10:
        log_axis(ax, "x")
    if ys and max(ys) / max(min(ys), 1e-12) > 10:
        log_axis(ax, "y")
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel("energy per inference (mJ)")
    if usable:
        legend_outside(ax, 8)
    ax.set_title("Energy efficiency on %s" % device, fontsize=10)
    ax.grid(True, alpha=0.3)
    if not usable:
        ax.text(0.5, 0.5, "No energy measured on this device:\n" + _wrap(reason, 70), ha="center", va="center",
                transform=ax.transAxes, fontsize=9, color="dimgray")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()  # before the numbers: they are placed by display position
    _label_points(fig, ax, [p["p50_ms"] for p in usable], [p["energy_mj"] for p in usable], _labels(usable))
    return _save(fig, out, layout=False)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text or "", width)[:6])


def framework_comparison(rows: List[Dict[str, Any]], out: Path) -> Path:
    """Speed-up over each model's FP32 ONNX Runtime baseline, per device, grouped by model."""
    usable = [r for r in rows if r.get("speedup") is not None]
    rounds = len({r.get("round") for r in usable}) > 1
    devices = len({r.get("device") for r in usable}) > 1  # one device: said once, in the title
    runs = len({r.get("run_id") for r in usable}) > 1  # a merged report: each bar says its run
    fig, ax = plt.subplots(figsize=(12.5 if runs or devices else 11, 1.5 + 0.35 * max(1, len(usable))))
    labels = ["%s%s · %s · %s%s%s" % ("%s · " % r["device"] if devices else "", r["model"], r["variant"], r["runtime"],
                                      " · round %s" % r.get("round") if rounds else "",
                                      " · %s" % r.get("run_id") if runs else "") for r in usable]
    values = [r["speedup"] for r in usable]
    colours = ["tab:gray" if abs(v - 1.0) < 1e-9 else ("tab:green" if v > 1 else "tab:red") for v in values]
    invalid = [r.get("valid") == "NO" for r in usable]
    err = [[max(0.0, v - r["speedup_low"]) if r.get("speedup_low") is not None else 0.0 for v, r in zip(values, usable)],
           [max(0.0, r["speedup_high"] - v) if r.get("speedup_high") is not None else 0.0 for v, r in zip(values, usable)]]
    bars = ax.barh(range(len(values)), values, color=colours, xerr=err, error_kw={"lw": 0.8, "capsize": 2})
    for bar, bad in zip(bars, invalid):
        if bad:  # a figure that cannot be vouched for: shown, hatched, never as clean
            bar.set_hatch("///")
            bar.set_alpha(0.55)
    # fitted to the bars: a whisker may run past the edge (clipped), and the text past the axes into the margin
    reach = max([1.1] + [1.12 * v for v in values])
    for i, r in enumerate(usable):
        fid = r.get("fidelity_cosine")
        from ..fmt import fmt_duration_ms

        high = r.get("speedup_high") or 0.0
        right = min(max(values[i], high), reach)  # at the axes' edge when the whisker runs past it
        ax.text(right, i, "  %.2fx  p50 %s%s%s%s" % (values[i], fmt_duration_ms(r["p50_ms"]),
                                                      "  (CI to %.2fx)" % high if high > reach else "",
                                                      "  cos %.4f" % fid if fid is not None else "",
                                                      "  (not valid)" if invalid[i] else ""), va="center", fontsize=7,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3, "alpha": 0.85})
    ax.set_yticks(range(len(values)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xlabel("speed-up of p50 latency over the model's onnx-fp32 / onnxruntime run on the same device\n"
                  "(whiskers: the range when both medians sit anywhere in their 95 % CIs)")
    ax.set_title("Framework and precision comparison%s%s" % (
        " on %s" % usable[0]["device"] if usable and not devices else "",
        " — hatched: a side judged not valid (see Validity)" if any(invalid) else ""), fontsize=10)
    if values:
        ax.set_xlim(0, reach)
    else:
        ax.text(0.5, 0.5, "no FP32 ONNX Runtime baseline in these runs", ha="center", transform=ax.transAxes)
    return _save(fig, out)


def working_set_sweep(device: str, sweep: List[Dict[str, Any]], llc_bytes: Any, out: Path) -> Path:
    """Single-thread bandwidth against working-set size: the cache levels show as steps."""
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = [s["working_set_bytes"] / 1024 for s in sweep]
    ax.plot(xs, [s["gbps"] for s in sweep], marker="o", ms=3)
    if llc_bytes:
        ax.axvline(llc_bytes / 1024, color="gray", ls="--", lw=1, label="last-level cache %.0f KiB" % (llc_bytes / 1024))
        ax.legend(fontsize=8)
    from matplotlib.ticker import FuncFormatter

    log_axis(ax, "x", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%d KiB" % v if v < 1024 else "%d MiB" % (v / 1024)))
    ax.set_xlabel("working set (three arrays)")
    ax.set_ylabel("GB/s (c = a + b, one thread)")
    ax.set_title("Working-set sweep on %s (smallest sizes are limited by per-call overhead)" % device, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, out)
