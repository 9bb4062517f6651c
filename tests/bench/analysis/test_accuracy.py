"""Accuracy metrics, intervals, deltas, the sweet spot and the budget pick (bench/analysis/accuracy.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pytest

from bench.analysis import accuracy as acc
from bench.results.schema import ResultInvalid, check_agent_result, check_stored_result


def test_wilson_matches_the_closed_form_and_scipy_binomtest() -> None:
    from scipy.stats import binomtest

    lo, hi = acc.wilson(45, 50)
    ref = binomtest(45, 50).proportion_ci(confidence_level=0.95, method="wilson")
    assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-6)
    assert acc.wilson(0, 10)[0] == pytest.approx(0.0) and acc.wilson(10, 10)[1] == pytest.approx(1.0)


def test_macro_f1_by_hand() -> None:
    pred = np.array([0, 0, 1, 1, 2, 2])
    lab = np.array([0, 1, 1, 1, 2, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp0 fn1 -> 0.8; class 2: tp1 fp1 fn0 -> 2/3
    assert acc.macro_f1(pred, lab) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def _topk_pass(top1: List[int], second: Optional[List[int]] = None, ref_agree: Optional[List[bool]] = None
               ) -> Dict[str, Any]:
    second = second or [(t + 1) % 10 for t in top1]
    raw: Dict[str, Any] = {"n": len(top1), "returns": "topk", "topk": [[a, b, 7, 8, 9] for a, b in zip(top1, second)],
                           "non_finite": {"y": 0}}
    if ref_agree is not None:
        raw["reference"] = {"variant": "onnx-fp32", "cosine": [0.99] * len(top1), "top1_agree": ref_agree}
    return raw


def test_accuracy_top5_and_f1_from_topk() -> None:
    labels = np.array([1, 2, 3, 4])
    raw = _topk_pass([1, 2, 0, 0], second=[0, 0, 3, 0])
    a = acc.score_pass("accuracy", raw, labels)
    assert (a["value"], a["n"], a["ci95"]) == (0.5, 4, acc.wilson(2, 4))
    assert a["per_example"] == [1.0, 1.0, 0.0, 0.0]
    assert acc.score_pass("top5", raw, labels)["value"] == 0.75
    f1 = acc.score_pass("f1", raw, labels)
    assert f1["value"] == pytest.approx(acc.macro_f1(np.array([1, 2, 0, 0]), labels))
    assert f1["ci95"][0] <= f1["value"] <= f1["ci95"][1]


def test_without_labels_the_figure_is_agreement_with_the_fp32_reference() -> None:
    raw = _topk_pass([1, 2, 3, 4], ref_agree=[True, True, True, False])
    a = acc.score_pass("accuracy", raw, None)
    assert (a["metric"], a["value"]) == ("top1_agreement", 0.75)
    assert "FP32 reference (onnx-fp32)" in a["labels_source"]
    c = acc.score_pass("cosine", raw, None)
    assert (c["metric"], c["value"]) == ("cosine_to_fp32", pytest.approx(0.99))
    with pytest.raises(ValueError, match="no FP32 reference"):
        acc.score_pass("accuracy", _topk_pass([1]), None)


def test_pairs_mse_and_cosine_from_outputs() -> None:
    rows = [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [None, 0.0]]
    raw = {"n": 4, "returns": "outputs", "outputs": rows[:3]}
    pairs = np.array([[0, 1], [0, 2], [1, 2]])
    p = acc.score_pass("pairs", dict(raw, n=3), np.array([1, 0, 1]), pairs)
    assert p["per_example"] == [1.0, 1.0, 0.0] and p["n"] == 3  # scored per pair
    target = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    assert acc.score_pass("mse", raw, target)["value"] == pytest.approx(np.mean([0, 0.01, 0.5]))  # per example: mean over values
    assert acc.score_pass("cosine", raw, target)["value"] == pytest.approx(
        np.mean([1.0, 0.9 / np.hypot(0.9, 0.1), 1.0]))
    bad = acc.score_pass("mse", dict(raw, outputs=rows[1:]), target)
    assert bad["value"] is None and "NaN/inf" in bad["reason"]


def test_delta_has_a_paired_bootstrap_ci() -> None:
    rng = np.random.default_rng(0)
    base_per = (rng.random(400) < 0.9).astype(float)
    worse = base_per.copy()
    worse[np.flatnonzero(worse)[:20]] = 0.0  # 20 examples of 400 lost: -5 points, exactly
    base = {"metric": "accuracy", "value": base_per.mean(), "n": 400, "per_example": list(base_per)}
    fig = {"metric": "accuracy", "value": worse.mean(), "n": 400, "per_example": list(worse)}
    d = acc.delta(fig, base, "onnx-fp32")
    assert d["delta"] == pytest.approx(-0.05)
    assert d["ci95"][0] < -0.05 < d["ci95"][1] < 0  # paired: the loss is certain, its CI excludes 0
    assert acc.drop_pct("accuracy", d["delta"]) == pytest.approx(5.0)
    assert acc.drop_pct("mse", 0.1, 0.5) == pytest.approx(20.0)
    assert acc.delta(dict(fig, n=10), base, "x")["delta"] is None


def _result(variant: str, p50: float, per: List[float], valid: str = "yes", energy: Optional[float] = None
            ) -> Dict[str, Any]:
    spec = {"metric": "accuracy", "max_drop_pct": 1.0,
            "reference": {"variant": "onnx-fp32", "runtime": "onnxruntime"}}
    return {"status": "ok", "device_name": "dev", "model_name": "m", "variant": variant,
            "runtime_name": "onnxruntime", "plan": {"accuracy": spec, "round": 0},
            "stats": {"p50_ms": p50}, "validity": {"valid": valid == "yes", "warnings": []},
            "accuracy": {"metric": "accuracy", "value": float(np.mean(per)), "n": len(per), "per_example": per,
                         "ci95": acc.wilson(int(sum(per)), len(per))}}


def test_sweet_spot_and_the_fastest_configuration_within_the_budget() -> None:
    base = [1.0] * 990 + [0.0] * 10
    fp16 = list(base)  # no loss
    int8 = [1.0] * 960 + [0.0] * 40  # -3 points: over the 1-point budget
    results = [_result("onnx-fp32", 10.0, base), _result("onnx-fp16", 6.0, fp16), _result("onnx-int8", 3.0, int8)]
    rows = [{"valid": "yes", "energy_per_inference_mj": e} for e in (5.0, 3.0, 1.0)]
    sweet = acc.sweet_spot_rows(results, rows)
    by = {s["variant"]: s for s in sweet}
    assert by["onnx-fp16"]["speedup"] == pytest.approx(10 / 6, abs=1e-3)
    assert by["onnx-int8"]["delta"] == "-3.00 pp" and by["onnx-int8"]["within_budget"] == "no"
    assert by["onnx-fp16"]["within_budget"] == "yes" and by["onnx-fp32"]["within_budget"] == "yes"
    (pick,) = acc.budget_picks(sweet)
    assert pick["text"].startswith("onnx-fp16 on onnxruntime") and "within the 1-point budget" in pick["text"]
    assert acc.pareto([(10, 0.99), (6, 0.99), (3, 0.96)]) == [2, 1]


def test_a_job_scored_before_its_baseline_gets_its_delta_in_the_report(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2), np.float32), labels=np.array([0, 1, 1, 0]))
    spec = {"dataset": str(tmp_path / "d.npz"), "metric": "accuracy",
            "reference": {"variant": "onnx-fp32", "runtime": "onnxruntime"}}
    job = {"status": "ok", "device_name": "d", "model_name": "m", "variant": "onnx-int8", "runtime_name": "onnxruntime",
           "plan": {"accuracy": spec}, "accuracy_pass": _topk_pass([0, 1, 0, 0])}
    fig = acc.score_job(spec, job, lambda: [])
    assert fig["value"] == 0.75 and fig["vs_baseline"]["delta"] is None and "no accuracy figure yet" in \
        fig["vs_baseline"]["reason"]
    base = dict(job, variant="onnx-fp32", accuracy_pass=_topk_pass([0, 1, 1, 0]))
    base["accuracy"] = acc.score_job(spec, base, lambda: [])
    assert base["accuracy"]["vs_baseline"]["is_baseline"]
    later = acc.refreshed([dict(job, accuracy=fig), base])
    assert later[0]["accuracy"]["vs_baseline"]["delta"] == pytest.approx(-0.25)
    error = acc.score_job(spec, dict(job, accuracy_pass={"error": "no array for input 'x'"}), lambda: [])
    assert error["value"] is None and error["reason"] == "no array for input 'x'"


def _agent(**accuracy_pass: Any) -> Dict[str, Any]:
    return {"job_id": "j", "status": "error", "error": "x", "accuracy_pass": accuracy_pass}


@pytest.mark.parametrize("bad, where", [
    ({"n": 2, "returns": "topk", "topk": [[1]]}, "n is 2 but 1 examples"),
    ({"n": 1, "returns": "topk", "topk": [["1"]]}, "accuracy_pass.topk[0][0]"),
    ({"n": 1, "returns": "outputs", "outputs": [[1.0]], "reference": {"cosine": [3.0]}}, "a cosine lies in"),
    ({"n": 1, "returns": "topk", "topk": [[1]], "non_finite": {"y": -1}}, "non_finite counts must be >= 0"),
])
def test_the_schema_refuses_a_malformed_accuracy_pass(bad: Dict[str, Any], where: str) -> None:
    with pytest.raises(ResultInvalid, match=where.replace("[", r"\[").replace("]", r"\]")):
        check_agent_result(_agent(**bad), "j")
    check_agent_result(_agent(error="the dataset has no array for input 'x'"), "j")
    with pytest.raises(ResultInvalid, match="accuracy.ci95"):
        check_stored_result({"job_id": "j", "status": "ok", "accuracy": {"ci95": [0.1]}})
