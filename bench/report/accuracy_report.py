"""The report's "Accuracy and the quantization sweet spot" section: the sweet-spot table per device and model and
the speed-accuracy-energy Pareto plot (figures from bench/analysis/accuracy.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence

from ..analysis import accuracy
from ..paths import safe_child, slug_name
from .drawing import draw


def _dominated_3d(p: Dict[str, Any], others: Sequence[Dict[str, Any]]) -> bool:
    """``p`` is beaten by another point on latency (lower), accuracy (higher) and energy (lower), all at once."""
    return any(o is not p and o["p50_ms"] <= p["p50_ms"] and o["accuracy"] >= p["accuracy"]
               and o["energy_per_inference_mj"] <= p["energy_per_inference_mj"]
               and (o["p50_ms"], o["accuracy"], o["energy_per_inference_mj"])
               != (p["p50_ms"], p["accuracy"], p["energy_per_inference_mj"]) for o in others)


def pareto_plot(device: str, model: str, rows: List[Dict[str, Any]], out: Path) -> Path:
    """Accuracy (with its 95 % CI) against p50 latency for one device and model; colour = energy per inference
    where measured; the speed-accuracy Pareto front as a line; points also on the speed-accuracy-energy front
    ringed; the accuracy budget as a dashed line under the FP32 value."""
    from .plots import _label_points, _save, _wrap, plt

    usable = [r for r in rows if r.get("p50_ms") and r.get("accuracy") is not None]
    fig, ax = plt.subplots(figsize=(8, 5))
    energies = [r["energy_per_inference_mj"] for r in usable if r.get("energy_per_inference_mj") is not None]
    xs = [r["p50_ms"] for r in usable]
    ys = [r["accuracy"] for r in usable]
    for r in usable:
        lo, hi = (r.get("ci") or [None, None])
        if lo is not None:
            ax.errorbar(r["p50_ms"], r["accuracy"], yerr=[[r["accuracy"] - lo], [hi - r["accuracy"]]], fmt="none",
                        ecolor="gray", elinewidth=1, capsize=3, zorder=1)
    if energies and len(energies) == len(usable):
        sc = ax.scatter(xs, ys, c=energies, cmap="viridis", s=60, zorder=2)
        fig.colorbar(sc, ax=ax, label="energy per inference (mJ)")
        for r in usable:
            if not _dominated_3d(r, usable):
                ax.scatter(r["p50_ms"], r["accuracy"], s=180, facecolors="none", edgecolors="tab:red", zorder=3)
    else:
        ax.scatter(xs, ys, s=60, color="tab:blue", zorder=2)
        fig.text(0.01, 0.005, "energy per inference not measured here: " + _wrap(
            next((r.get("energy_reason") for r in usable if r.get("energy_reason")), "no power sensor"), 110),
            fontsize=7, color="dimgray", va="bottom")
    one_runtime = len({r["runtime"] for r in usable}) == 1
    labels = [r["variant"] if one_runtime else "%s · %s" % (r["variant"], r["runtime"]) for r in usable]
    labels = [t + (" · %s" % r["run_id"] if labels.count(t) > 1 and r.get("run_id") else "")  # two runs' alike
              for t, r in zip(labels, usable)]
    _label_points(fig, ax, xs, ys, labels)
    front = accuracy.pareto(list(zip(xs, ys)))
    if len(front) > 1:
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color="tab:red", lw=1.2,
                label="speed-accuracy Pareto front")
    base = next((r for r in usable if r.get("is_baseline")), None)
    budget = base is not None and base.get("budget_pct") is not None and base["metric"] not in accuracy.LOWER_IS_BETTER
    if budget:
        ax.axhline(base["accuracy"] - base["budget_pct"] / 100.0, color="tab:orange", ls="--", lw=1,
                   label="budget: FP32 − %.3g pp" % base["budget_pct"])
    if len(front) > 1 or budget:
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("p50 latency per inference (ms)")
    metric = usable[0]["metric"] if usable else "accuracy"
    ax.set_ylabel("%s (95 %% CI)" % metric)
    ax.set_title("Speed, accuracy and energy — %s on %s%s" % (
        model, device, " (%s)" % usable[0]["runtime"] if usable and one_runtime else ""), fontsize=10)
    ax.grid(True, alpha=0.3)
    if not usable:
        ax.text(0.5, 0.5, "no job with both a latency and an accuracy", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, out)


def accuracy_section(results: List[Dict[str, Any]], rows: List[Dict[str, Any]], plot_dir: Path,
                     sections: List[Any]) -> List[Dict[str, Any]]:
    """Append the section (when any job has an accuracy figure) to ``sections``; return the sweet-spot rows."""
    from .sections import Section, _table, _text

    sweet = accuracy.sweet_spot_rows(results, rows)
    if not sweet:
        return sweet
    sec = Section("Accuracy and the quantization sweet spot")
    _text(sec, "Every job also ran the dataset on the device, through its own runtime, options and input shape, "
               "outside the timed window; the host scores the predictions against its own labels. "
               "Dataset: %s. Speed-up and Δ are against the FP32 job of the same model on the same device; Δ's CI is "
               "a paired bootstrap over the same examples; the budget is the drop in points (relative %% for mse) the "
               "headline allows. Metrics and intervals: bench/analysis/accuracy.py." % accuracy.dataset_note(results))
    # the job behind each sweet-spot row: sweet_spot_rows keeps exactly these, in this order (a merged report may
    # hold one configuration twice, from two runs: each row keeps its own job and says its run)
    pairs = [(r, row) for r, row in zip(results, rows)
             if r.get("status") == "ok" and isinstance(r.get("accuracy"), dict)]
    if len(pairs) != len(sweet):
        pairs = [(None, {})] * len(sweet)
    sweet_shown = [dict(s, run_id=row.get("run_id")) for s, (_, row) in zip(sweet, pairs)]
    merged = len({row.get("run_id") for row in rows}) > 1
    _table(sec, [accuracy.display(s) for s in sweet_shown],
           ([("run_id", "run")] if merged else []) + accuracy.SWEET_SPOT_COLUMNS)
    for r in sweet:
        if r.get("reason") and r.get("accuracy") is None:
            _text(sec, "%s / %s / %s: no accuracy — %s" % (r["model"], r["variant"], r["device"], r["reason"]))
    keys: List[tuple] = []
    for s in sweet:
        if (s["device"], s["model"]) not in keys:
            keys.append((s["device"], s["model"]))
    for device, model in keys:
        mine = []
        for s, (job, _) in zip(sweet_shown, pairs):
            if (s["device"], s["model"]) != (device, model):
                continue
            src = job or next(r for r in results if r.get("device_name") == device and r.get("model_name") == model
                              and r.get("variant") == s["variant"] and r.get("runtime_name") == s["runtime"])
            fig = src.get("accuracy") or {}
            spec = (src.get("plan") or {}).get("accuracy") or {}
            mine.append(dict(s, accuracy=fig.get("value"), ci=fig.get("ci95"),
                             is_baseline=accuracy._is_baseline(spec, src),
                             energy_reason=(src.get("power") or {}).get("reason")))
        sec.images.append(("Speed–accuracy–energy — %s / %s" % (device, model), draw(
            pareto_plot, device, model, mine, safe_child(plot_dir, "accuracy_%s.png" % slug_name("%s-%s" % (device, model))))))
    sections.append(sec)
    return sweet
