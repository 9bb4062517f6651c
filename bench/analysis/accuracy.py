"""Accuracy beside speed: a job's accuracy pass scored on the host, its delta against FP32, the quantization
sweet spot and the speed-accuracy-energy Pareto front.

The device returns predictions or outputs per example (device_agents/accuracy.py); the metric is computed here
against the labels the host keeps (the dataset file it sent), never taken from the device.

Metrics (``value`` is a fraction in [0, 1] except ``mse``):

- ``accuracy`` (top-1) and ``top5``: share of examples whose label is the top-1 / among the top-5 of the first
  output; 95 % CI: Wilson score interval (binomial).
- ``f1``: macro F1 over the classes present in labels or predictions; CI: bootstrap (1000 resamples, seed 0).
- ``mse``: mean over examples of the mean squared error between output and label vector; ``cosine``: mean
  cosine between output and label vector; CI: bootstrap of the mean.
- ``pairs``: sentence pairs (dataset arrays ``pairs`` [m, 2], ``labels`` [m] 0/1): a pair is predicted similar
  when the cosine of its two embeddings is at least ``PAIR_THRESHOLD``; share of pairs predicted right, Wilson CI.
- Without labels: ``top1_agreement`` (share of examples whose top-1 equals the FP32 reference's on the same device
  and inputs, Wilson CI) or ``cosine_to_fp32`` (mean cosine of the outputs to the reference's, bootstrap CI).

``vs_baseline.delta`` is value - the FP32 variant's value on the same device, model and dataset, with a paired
bootstrap 95 % CI over the same examples. The accuracy *drop* a budget (``--max-accuracy-drop PCT``) is held to
is -delta in percentage points for the bounded metrics, and the relative increase in % for ``mse``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

#: A pair is predicted "similar" at or above this cosine (all-MiniLM-L6-v2's paraphrases sit well above it,
#: unrelated sentences well below).
PAIR_THRESHOLD = 0.5
BOOTSTRAP_REPS = 1000
BOOTSTRAP_SEED = 0
#: Metrics where a larger value is better (all but mse).
LOWER_IS_BETTER = ("mse",)
#: Metrics scored with the Wilson interval (a share of examples); the rest by bootstrap.
BINOMIAL = ("accuracy", "top5", "pairs", "top1_agreement")


def wilson(k: int, n: int, z: float = 1.959964) -> List[float]:
    """Wilson score 95 % interval of a proportion k/n."""
    if n <= 0:
        return [0.0, 1.0]
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [max(0.0, mid - half), min(1.0, mid + half)]


def bootstrap(stat: Callable[[np.ndarray], float], n: int, reps: int = BOOTSTRAP_REPS,
              seed: int = BOOTSTRAP_SEED) -> List[float]:
    """Percentile bootstrap 95 % interval of ``stat(indices)`` over ``n`` examples resampled with replacement."""
    rng = np.random.default_rng(seed)
    values = np.array([stat(rng.integers(0, n, n)) for _ in range(reps)], dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return [float("nan"), float("nan")]
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def macro_f1(pred: np.ndarray, labels: np.ndarray) -> float:
    """Macro F1 over the classes present in ``labels`` or ``pred``."""
    scores = []
    for c in np.union1d(pred, labels):
        tp = float(np.sum((pred == c) & (labels == c)))
        fp = float(np.sum((pred == c) & (labels != c)))
        fn = float(np.sum((pred != c) & (labels == c)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores)) if scores else float("nan")


def _rows(raw: Dict[str, Any]) -> np.ndarray:
    """The pass's output vectors as floats (a None, i.e. a non-finite value on the device, as NaN)."""
    return np.array([[np.nan if v is None else v for v in r] for r in raw.get("outputs") or []], dtype=float)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1.0), np.nan)


def _per_example(metric: str, raw: Dict[str, Any], labels: Optional[np.ndarray], pairs: Optional[np.ndarray]
                 ) -> Tuple[str, Optional[np.ndarray], str]:
    """(metric name as stored, per-example scores (None for f1), where the truth came from)."""
    if labels is None:
        ref = raw.get("reference") or {}
        if ref.get("error") or ref.get("cosine") is None:
            raise ValueError("no labels in the dataset and no FP32 reference figures: %s"
                             % (ref.get("error") or "the run has no FP32 variant of this model"))
        source = "FP32 reference (%s) on the same device and inputs" % ref.get("variant")
        if metric == "cosine":
            return "cosine_to_fp32", np.array([np.nan if c is None else c for c in ref["cosine"]], dtype=float), source
        return "top1_agreement", np.array(ref["top1_agree"], dtype=float), source
    source = "dataset labels"
    if metric in ("accuracy", "top5"):
        k = 1 if metric == "accuracy" else 5
        top = raw["topk"]
        return metric, np.array([float(int(lab) in t[:k]) for t, lab in zip(top, labels)]), source
    if metric == "f1":
        return metric, None, source
    rows = _rows(raw)
    if metric == "pairs":
        cos = _cosines(rows[pairs[:, 0]], rows[pairs[:, 1]])
        return metric, ((cos >= PAIR_THRESHOLD) == (labels.astype(int) == 1)).astype(float), source
    target = labels.reshape(labels.shape[0], -1).astype(float)
    if target.shape != rows.shape:
        raise ValueError("labels have %d values per example, the output %d" % (target.shape[1], rows.shape[1]))
    if metric == "mse":
        return metric, np.mean((rows - target) ** 2, axis=1), source
    return metric, _cosines(rows, target), source


def score_pass(metric: str, raw: Dict[str, Any], labels: Optional[np.ndarray], pairs: Optional[np.ndarray] = None
               ) -> Dict[str, Any]:
    """The stored ``accuracy`` figure of one pass: metric, value, n, ci95, labels_source, the per-example data a
    paired delta needs, and the agreement with the FP32 reference where it ran."""
    name, per, source = _per_example(metric, raw, labels, pairs)
    fig: Dict[str, Any] = {"metric": name, "labels_source": source}
    if per is None:  # f1: keep predictions and labels for a paired bootstrap
        pred = np.array([t[0] for t in raw["topk"]])
        lab = labels.astype(int)
        fig.update(value=macro_f1(pred, lab), n=int(pred.size),
                   ci95=bootstrap(lambda i: macro_f1(pred[i], lab[i]), int(pred.size)),
                   predictions=[int(p) for p in pred], labels=[int(v) for v in lab])
    elif not np.all(np.isfinite(per)):
        fig.update(value=None, n=int(per.size), ci95=None,
                   reason="the pass's outputs hold NaN/inf on %d example(s): no %s" % (int(np.sum(~np.isfinite(per))),
                                                                                   name))
    else:
        n = int(per.size)
        ci = wilson(int(per.sum()), n) if name in BINOMIAL else bootstrap(lambda i: float(per[i].mean()), n)
        fig.update(value=float(per.mean()), n=n, ci95=ci, per_example=[float(v) for v in per])
    ref = raw.get("reference") or {}
    if labels is not None and ref.get("cosine") is not None:
        cos = [c for c in ref["cosine"] if c is not None]
        fig["vs_reference"] = {"variant": ref.get("variant"),
                               "cosine_mean": float(np.mean(cos)) if cos else None,
                               "cosine_min": float(np.min(cos)) if cos else None,
                               # an argmax means something only for class scores, not for an embedding's dimensions
                               "top1_agreement": float(np.mean(ref["top1_agree"]))
                               if ref.get("top1_agree") and raw.get("returns") == "topk" else None}
    return fig


def _stat(fig: Dict[str, Any]) -> Optional[Callable[[np.ndarray], float]]:
    """The metric of ``fig`` over a resample of its examples (for a paired bootstrap), or None."""
    if fig.get("per_example") is not None:
        per = np.asarray(fig["per_example"], dtype=float)
        return lambda i: float(per[i].mean())
    if fig.get("predictions") is not None and fig.get("labels") is not None:
        pred, lab = np.asarray(fig["predictions"]), np.asarray(fig["labels"])
        return lambda i: macro_f1(pred[i], lab[i])
    return None


def delta(fig: Dict[str, Any], base: Dict[str, Any], base_variant: str) -> Dict[str, Any]:
    """``fig``'s value minus ``base``'s with a paired bootstrap CI over the same examples."""
    out: Dict[str, Any] = {"variant": base_variant, "delta": None, "ci95": None}
    if fig.get("value") is None or base.get("value") is None:
        out["reason"] = "no value for %s" % ("this job" if fig.get("value") is None else "the baseline")
        return out
    if fig.get("metric") != base.get("metric") or fig.get("n") != base.get("n"):
        out["reason"] = "the baseline was scored with another metric or dataset"
        return out
    out["delta"] = float(fig["value"] - base["value"])
    a, b = _stat(fig), _stat(base)
    if a is not None and b is not None:
        lo, hi = bootstrap(lambda i: a(i) - b(i), int(fig["n"]))
        out["ci95"] = [lo, hi] if math.isfinite(lo) and math.isfinite(hi) else None
    return out


def drop_pct(metric: Optional[str], fig_delta: Optional[float], base_value: Optional[float] = None) -> Optional[float]:
    """The accuracy lost (positive = worse) in percentage points (bounded metrics) or relative % (mse)."""
    if fig_delta is None:
        return None
    if metric in LOWER_IS_BETTER:
        return 100.0 * fig_delta / base_value if base_value else None
    return -100.0 * fig_delta


def _labels(path: str) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    with np.load(path, allow_pickle=False) as npz:
        return (npz["labels"] if "labels" in npz.files else None, npz["pairs"] if "pairs" in npz.files else None)


def _is_baseline(spec: Dict[str, Any], result: Dict[str, Any]) -> bool:
    ref = spec.get("reference") or {}
    return (ref.get("variant"), ref.get("runtime")) == (result.get("variant"), result.get("runtime_name"))


def find_baseline(result: Dict[str, Any], results: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The FP32 reference job of ``result`` (same device, model and plan round) among ``results``, if measured."""
    spec = ((result.get("plan") or {}).get("accuracy")) or {}
    ref = spec.get("reference") or {}
    rnd = (result.get("plan") or {}).get("round")
    for r in results:
        if (r.get("status") == "ok" and r.get("device_name") == result.get("device_name")
                and r.get("model_name") == result.get("model_name") and r.get("variant") == ref.get("variant")
                and r.get("runtime_name") == ref.get("runtime") and (r.get("plan") or {}).get("round") == rnd
                and isinstance(r.get("accuracy"), dict)):
            return r
    return None


def vs_baseline(result: Dict[str, Any], results: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """``result``'s accuracy delta against its FP32 reference job (zero for the reference itself)."""
    spec = ((result.get("plan") or {}).get("accuracy")) or {}
    fig = result.get("accuracy") or {}
    ref = spec.get("reference") or {}
    if not ref:
        return {"variant": None, "delta": None, "ci95": None, "reason": spec.get("reference_reason")
                or "no FP32 variant of this model in the run"}
    if _is_baseline(spec, result):
        return {"variant": ref.get("variant"), "delta": 0.0 if fig.get("value") is not None else None,
                "ci95": [0.0, 0.0] if fig.get("value") is not None else None, "is_baseline": True}
    base = find_baseline(result, results)
    if base is None:
        return {"variant": ref.get("variant"), "delta": None, "ci95": None,
                "reason": "the FP32 job (%s) has no accuracy figure yet" % ref.get("variant")}
    return delta(fig, base["accuracy"], ref.get("variant"))


def score_job(spec: Dict[str, Any], result: Dict[str, Any], all_results: Callable[[], List[Dict[str, Any]]]
              ) -> Dict[str, Any]:
    """The ``accuracy`` field of a finished job: the pass scored against the host's labels, and its delta to FP32.
    A figure that cannot be computed is null with the reason."""
    raw = result.get("accuracy_pass")
    metric = spec.get("metric") or "accuracy"
    if not isinstance(raw, dict) or raw.get("error"):
        reason = raw.get("error") if isinstance(raw, dict) else (
            "the agent returned no accuracy pass" if Path(spec.get("dataset", "")).is_file() else
            "the dataset %s is not on the host that ran the job (bench/lab does not publish datasets)"
            % spec.get("dataset"))
        return {"metric": metric, "value": None, "n": None, "ci95": None, "reason": reason,
                "labels_source": None, "vs_baseline": None}
    try:
        labels, pairs = _labels(spec["dataset"])
        fig = score_pass(metric, raw, labels, pairs)
    except (OSError, KeyError, ValueError, IndexError) as exc:
        return {"metric": metric, "value": None, "n": raw.get("n"), "ci95": None, "labels_source": None,
                "reason": "%s: %s" % (type(exc).__name__, exc), "vs_baseline": None}
    result = dict(result, accuracy=fig)
    fig["vs_baseline"] = vs_baseline(result, [] if _is_baseline(spec, result) else all_results())
    return fig


# -- the report ----------------------------------------------------------------------------------------------
SWEET_SPOT_COLUMNS = [("device", "device"), ("model", "model"), ("variant", "variant"), ("runtime", "runtime"),
                      ("valid", "valid"), ("p50_ms", "p50 ms"), ("speedup", "speed-up vs FP32"),
                      ("metric", "metric"), ("accuracy", "value"), ("accuracy_ci", "CI95"),
                      ("delta", "Δ vs FP32"), ("delta_ci", "Δ CI95"), ("fp32_cosine", "cosine to FP32"),
                      ("energy_per_inference_mj", "energy/inf mJ"), ("within_budget", "within budget")]


def _fmt_ci(ci: Any, digits: int = 4) -> Optional[str]:
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or ci[0] is None or ci[1] is None:
        return None
    return "%.*f – %.*f" % (digits, ci[0], digits, ci[1])


def refreshed(results: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The results whose accuracy figure is complete: each job's delta to FP32 recomputed with every job of the
    run(s) at hand (a job finished before its FP32 reference has none stored)."""
    out = []
    for r in results:
        if isinstance(r.get("accuracy"), dict) and r["accuracy"].get("value") is not None:
            r = dict(r, accuracy=dict(r["accuracy"], vs_baseline=vs_baseline(r, results)))
        out.append(r)
    return out


def accuracy_columns(result: Dict[str, Any]) -> Dict[str, Any]:
    """Table columns of one job's accuracy (empty values where the job had no dataset)."""
    fig = result.get("accuracy") if isinstance(result.get("accuracy"), dict) else {}
    base = fig.get("vs_baseline") if isinstance(fig.get("vs_baseline"), dict) else {}
    ci = fig.get("ci95") or [None, None]
    return {"accuracy_metric": fig.get("metric"), "accuracy": fig.get("value"), "accuracy_ci95_low": ci[0],
            "accuracy_ci95_high": ci[1], "accuracy_delta": base.get("delta"),
            "accuracy_note": fig.get("reason") if fig else None}


def sweet_spot_rows(results: Sequence[Dict[str, Any]], rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per measured configuration with an accuracy figure, grouped by device and model: speed-up over the
    FP32 reference job, accuracy with its CI, delta with its CI, energy per inference, and whether the drop is
    within the run's budget. ``rows`` are the report's table rows (same order as ``results``)."""
    results = refreshed(results)
    out = []
    for r, row in zip(results, rows):
        fig = r.get("accuracy") if isinstance(r.get("accuracy"), dict) else None
        if r.get("status") != "ok" or fig is None:
            continue
        spec = (r.get("plan") or {}).get("accuracy") or {}
        base_job = r if _is_baseline(spec, r) else find_baseline(r, results)
        base_p50 = ((base_job or {}).get("stats") or {}).get("p50_ms")
        p50 = (r.get("stats") or {}).get("p50_ms")
        vb = fig.get("vs_baseline") or {}
        base_value = ((base_job or {}).get("accuracy") or {}).get("value")
        drop = drop_pct(fig.get("metric"), vb.get("delta"), base_value)
        budget = spec.get("max_drop_pct")
        digits = 2 if fig.get("metric") in BINOMIAL + ("f1",) else 4
        out.append({
            "device": r.get("device_name"), "model": r.get("model_name"), "variant": r.get("variant"),
            "runtime": r.get("runtime_name"), "valid": row.get("valid"), "p50_ms": p50,
            "speedup": round(base_p50 / p50, 3) if base_p50 and p50 else None,
            "metric": fig.get("metric"),
            "accuracy": round(fig["value"], 5) if fig.get("value") is not None else None,
            "accuracy_ci": _fmt_ci(fig.get("ci95"), 4),
            "delta": ("%+.*f pp" % (digits, -drop) if fig.get("metric") not in LOWER_IS_BETTER else
                      "%+.4g" % vb["delta"]) if drop is not None else None,
            "delta_ci": _fmt_ci([100 * c for c in vb["ci95"]] if vb.get("ci95") and fig.get("metric") not in
                                LOWER_IS_BETTER else vb.get("ci95"), digits),
            "fp32_cosine": (fig.get("vs_reference") or {}).get("cosine_mean")
            if (fig.get("vs_reference") or {}).get("cosine_mean") is not None else
            (fig["value"] if fig.get("metric") == "cosine_to_fp32" else None),
            "energy_per_inference_mj": row.get("energy_per_inference_mj"),
            "drop_pct": drop, "budget_pct": budget,
            "within_budget": None if drop is None or budget is None else ("yes" if drop <= budget else "no"),
            "reason": fig.get("reason") or vb.get("reason"),
        })
    return out


def display(row: Dict[str, Any]) -> Dict[str, Any]:
    """A sweet-spot row for the report's table: the accuracy and the cosine with the digits that tell variants apart
    (0.99318 must not read as 0.99)."""
    out = dict(row)
    if row.get("accuracy") is not None:
        out["accuracy"] = "%.4f" % row["accuracy"]
    if row.get("fp32_cosine") is not None:
        out["fp32_cosine"] = "%.6f" % row["fp32_cosine"]
    return out


def _pick(best: Dict[str, Any]) -> str:
    from ..fmt import fmt_duration_ms

    return "%s on %s — p50 %s, %s %.4f (Δ %s vs FP32%s)%s" % (
        best["variant"], best["runtime"], fmt_duration_ms(best["p50_ms"]), best["metric"], best["accuracy"],
        best["delta"], ", CI %s" % best["delta_ci"] if best.get("delta_ci") else "",
        ", %.2f× the FP32 speed" % best["speedup"] if best.get("speedup") else "")


def budget_picks(sweet: Sequence[Dict[str, Any]]) -> List[Dict[str, str]]:
    """Per (device, model): the fastest valid configuration whose accuracy drop is within the budget (else the
    fastest within it, flagged not valid)."""
    keys: List[tuple] = []
    for s in sweet:
        if (s["device"], s["model"]) not in keys:
            keys.append((s["device"], s["model"]))
    out = []
    for device, model in keys:
        mine = [s for s in sweet if (s["device"], s["model"]) == (device, model)]
        budget = next((s["budget_pct"] for s in mine if s.get("budget_pct") is not None), None)
        ok = sorted((s for s in mine if s["within_budget"] == "yes" and s["valid"] == "yes" and s["p50_ms"]),
                    key=lambda s: s["p50_ms"])
        unit = "% (relative)" if any(s["metric"] in LOWER_IS_BETTER for s in mine) else "-point"
        within = sorted((s for s in mine if s["within_budget"] == "yes" and s["p50_ms"]), key=lambda s: s["p50_ms"])
        if ok:
            text = "%s, within the %.3g%s budget" % (_pick(ok[0]), budget, unit)
        elif within:  # said, flagged, as the speed winners are
            text = ("no valid configuration within the %.3g%s budget; fastest within it, not valid (see Validity): %s"
                    % (budget, unit, _pick(within[0])))
        else:
            text = "no configuration within the %s%s budget" % ("%.3g" % budget if budget is not None else "?", unit)
        out.append({"device": str(device), "model": str(model), "text": text})
    return out


def pareto(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the points no other point beats on both latency (lower) and accuracy (higher), by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def dataset_note(results: Sequence[Dict[str, Any]]) -> Optional[str]:
    """One line naming the dataset(s) the run's accuracy figures come from."""
    seen = {}
    for r in results:
        spec = (r.get("plan") or {}).get("accuracy") or {}
        if spec.get("dataset"):
            seen[spec["dataset"]] = spec
    if not seen:
        return None
    return "; ".join("%s (%s examples, sha256 %s…, metric %s, %s)" % (
        Path(p).name, s.get("examples"), (s.get("dataset_sha256") or "")[:12], s.get("metric"),
        "labels from the file" if s.get("labels") else "no labels: agreement with the FP32 reference")
        for p, s in seen.items())
