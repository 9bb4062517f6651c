"""Plots as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def latency_distribution(results: List[Dict[str, Any]], device: str, out: Path) -> Path:
    """One horizontal box-and-strip plot per device: every raw latency of every measured job."""
    ok = [r for r in results if r.get("status") == "ok" and r.get("latencies_ms")]
    rounds = [((r.get("plan") or {}).get("round") or 0) for r in ok]
    labels = ["%s · %s · %s%s" % (r["model_name"], r["variant"], r["runtime_name"],
                                  " · round %d" % k if any(rounds) else "") for r, k in zip(ok, rounds)]
    data = [r["latencies_ms"] for r in ok]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.55 * max(1, len(ok))))
    if data:
        ax.boxplot(data, vert=False, whis=(1, 99), showfliers=False, widths=0.5)
        for i, d in enumerate(data, start=1):
            jitter = [i + (k % 7 - 3) * 0.04 for k in range(len(d))]
            ax.scatter(d, jitter, s=4, alpha=0.35, color="tab:blue", linewidths=0)
        ax.set_yticks(range(1, len(labels) + 1))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xlabel("latency per inference (ms) — box: quartiles, whiskers: p1–p99, dots: every run")
        lo = min(min(d) for d in data)
        hi = max(max(d) for d in data)
        if hi / max(lo, 1e-9) > 20:
            ax.set_xscale("log")
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


#: Above this many points, points carry numbers and a key beside the axes instead of overlapping text.
DIRECT_LABELS = 8


#: Where a point's number may go (offsets in points from the point), tried in this order.
_SPOTS = [(5, 3), (5, -9), (-11, 3), (-11, -9), (5, 12), (-11, 12), (-3, -17), (-3, 19), (14, -3), (-20, -3),
          (14, 12), (-20, 12), (14, -17), (-20, -17)]


def _label_points(fig: Any, ax: Any, xs: List[float], ys: List[float], labels: List[str]) -> None:
    """One point: its label beside it. Several: each carries a short number, placed at the first spot around it
    that covers no other point and no number already placed (greedy, in display units; call after the axes'
    scales and limits are set), and a key of the numbers sits beside the axes, below the legend — labels never
    cover points, each other or the legend, whatever their number."""
    if not labels:
        return
    if len(labels) == 1:
        ax.annotate(labels[0], (xs[0], ys[0]), fontsize=7, xytext=(5, -3), textcoords="offset points")
        return
    scale = fig.dpi / 72.0  # points -> pixels
    pts = ax.transData.transform(list(zip(xs, ys)))
    taken = [(px - 4 * scale, py - 4 * scale, px + 4 * scale, py + 4 * scale) for px, py in pts]  # the markers
    for i, ((px, py), x, y) in enumerate(zip(pts, xs, ys), start=1):
        w, h = (6 * len(str(i)) + 2) * scale, 9 * scale
        best = _SPOTS[0]
        for dx, dy in _SPOTS:
            box = (px + dx * scale, py + dy * scale, px + dx * scale + w, py + dy * scale + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken):
                best = (dx, dy)
                break
        dx, dy = best
        taken.append((px + dx * scale, py + dy * scale, px + dx * scale + w, py + dy * scale + h))
        ax.annotate(str(i), (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, fontweight="bold",
                    arrowprops=None if (dx, dy) == _SPOTS[0] else {"arrowstyle": "-", "color": "gray", "lw": 0.5,
                                                                   "shrinkA": 0, "shrinkB": 3})
    key = "\n".join("%2d  %s" % (i, text) for i, text in enumerate(labels, start=1))
    ax.text(1.01, 0.0, key, transform=ax.transAxes, fontsize=6.5, va="bottom", ha="left", family="monospace")


def _save(fig: Any, out: Path) -> Path:
    """Write the figure; a legend or key placed outside the axes is kept in the image (tight bounding box)."""
    if not fig.texts:  # a key placed beside the axes keeps its own layout
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
    ax.set_xscale("log")
    ax.set_yscale("log")
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
    _label_points(fig, ax, [p["arithmetic_intensity"] for p in points], [p["attained_gops"] for p in points],
                  [_label(p) + (" (%.0f%%)" % (100 * p["efficiency"]) if p.get("efficiency") else "")
                   for p in points])
    legend_outside(ax)
    return _save(fig, out)


def bandwidth_bottleneck(device: str, points: List[Dict[str, Any]], out: Path) -> Path:
    """Attained bandwidth and roofline efficiency against model parameters."""
    usable = [p for p in points if p.get("params")]
    many = len(usable) > DIRECT_LABELS
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(16 if many else 11, 5 if many else 4.5))
    colours = {"fp32": "tab:blue", "fp16": "tab:green", "int8": "tab:red"}
    xs = [p["params"] / 1e6 for p in usable]
    for p, x in zip(usable, xs):
        ax1.scatter(x, p["attained_gbps"], s=30, color=colours.get(p["precision"], "k"))
        if p.get("efficiency") is not None:
            ax2.scatter(x, 100 * p["efficiency"], s=30, color=colours.get(p["precision"], "k"))
    labels = [_label(p) for p in usable]
    if many:
        for i, (p, x) in enumerate(zip(usable, xs), start=1):
            ax1.annotate(str(i), (x, p["attained_gbps"]), fontsize=6.5, xytext=(3, 2), textcoords="offset points")
            if p.get("efficiency") is not None:
                ax2.annotate(str(i), (x, 100 * p["efficiency"]), fontsize=6.5, xytext=(3, 2),
                             textcoords="offset points")
        fig.subplots_adjust(right=0.7, wspace=0.25)
        fig.text(0.71, 0.5, "\n".join("%2d  %s" % (i, t) for i, t in enumerate(labels, start=1)), fontsize=6.5,
                 va="center", family="monospace")
    else:
        for p, x, t in zip(usable, xs, labels):
            ax1.annotate(t, (x, p["attained_gbps"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
            if p.get("efficiency") is not None:
                ax2.annotate(t, (x, 100 * p["efficiency"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    if usable and usable[0].get("bandwidth_gbps"):
        ax1.axhline(usable[0]["bandwidth_gbps"], color="gray", ls="-", lw=1, label="measured STREAM triad")
    for precision in sorted({p["precision"] for p in usable if p.get("precision") in colours}):
        ax1.scatter([], [], s=30, color=colours[precision], label=precision)  # legend entry per precision
    if usable:
        ax1.legend(fontsize=7, loc="best")
    wide = bool(xs) and max(xs) / max(min(xs), 1e-9) >= 10  # a log axis only when the sizes span a decade
    distinct = sorted({float("%.3g" % x) for x in xs})  # one tick per size as it is labelled
    for ax in (ax1, ax2):
        if wide:
            ax.set_xscale("log")
        if distinct and len(distinct) <= 8:  # tick each model's own size: every tick is labelled
            ax.set_xticks(distinct)
            ax.set_xticklabels(["%.3g" % x for x in distinct], fontsize=7, rotation=30 if len(distinct) > 4 else 0)
            ax.xaxis.set_minor_locator(plt.NullLocator())
        if distinct and not wide:
            pad = max(0.5, 0.15 * (distinct[-1] - distinct[0]))
            ax.set_xlim(distinct[0] - pad, distinct[-1] + pad)
        ax.set_xlabel("model parameters (millions%s; the FP32 model's weights for every precision)"
                      % (", log" if wide else ""))
        ax.grid(True, which="both", alpha=0.25)
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
    if many:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return out
    return _save(fig, out)


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
        ax.set_xscale("log")
    if ys and max(ys) / max(min(ys), 1e-12) > 10:
        ax.set_yscale("log")
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel("energy per inference (mJ)")
    _label_points(fig, ax, [p["p50_ms"] for p in usable], [p["energy_mj"] for p in usable], [_label(p) for p in usable])
    if usable:
        legend_outside(ax, 8)
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel("energy per inference (mJ)")
    ax.set_title("Energy efficiency on %s" % device, fontsize=10)
    ax.grid(True, alpha=0.3)
    if not usable:
        ax.text(0.5, 0.5, "No energy measured on this device:\n" + _wrap(reason, 70), ha="center", va="center",
                transform=ax.transAxes, fontsize=9, color="dimgray")
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, out)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text or "", width)[:6])


def framework_comparison(rows: List[Dict[str, Any]], out: Path) -> Path:
    """Speed-up over each model's FP32 ONNX Runtime baseline, per device, grouped by model."""
    usable = [r for r in rows if r.get("speedup") is not None]
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.35 * max(1, len(usable))))
    rounds = len({r.get("round") for r in usable}) > 1
    labels = ["%s · %s · %s · %s%s" % (r["device"], r["model"], r["variant"], r["runtime"],
                                       " · round %s" % r.get("round") if rounds else "") for r in usable]
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
    for i, r in enumerate(usable):
        fid = r.get("fidelity_cosine")
        from .tables import fmt_duration_ms

        right = max(values[i], r.get("speedup_high") or 0.0)
        ax.text(right, i, "  %.2fx  p50 %s%s%s" % (values[i], fmt_duration_ms(r["p50_ms"]),
                                                    "  cos %.4f" % fid if fid is not None else "",
                                                    "  (not valid)" if invalid[i] else ""), va="center", fontsize=7)
    ax.set_yticks(range(len(values)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xlabel("speed-up of p50 latency over the model's onnx-fp32 / onnxruntime run on the same device\n"
                  "(whiskers: the range when both medians sit anywhere in their 95 % CIs)")
    ax.set_title("Framework and precision comparison%s" % (" — hatched: a side judged not valid (see Validity)"
                                                            if any(invalid) else ""), fontsize=10)
    if values:
        # fitted to the bars (a whisker may run past the edge), room on the right for the text
        reach = max(max(v, min(r.get("speedup_high") or v, 1.5 * v)) for v, r in zip(values, usable))
        ax.set_xlim(0, reach * 1.45)
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

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%d KiB" % v if v < 1024 else "%d MiB" % (v / 1024)))
    ax.set_xlabel("working set (three arrays)")
    ax.set_ylabel("GB/s (c = a + b, one thread)")
    ax.set_title("Working-set sweep on %s (smallest sizes are limited by per-call overhead)" % device, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, out)
