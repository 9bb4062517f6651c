"""``--dataset`` checked on the host before a run folder exists (bench/plan/dataset.py), and non-finite outputs judged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

from bench.plan.dataset import DatasetError, attach_dataset, check_against, default_metric, jsonl_to_npz, load_npz
from bench.plan.jobs import ArtifactRef, plan_jobs
from bench.analysis.validity import short_line, verdict


def _art(path: Path, variant: str = "onnx-file", model: str = "tiny") -> ArtifactRef:
    return ArtifactRef(model=model, variant=variant, format="onnx", runtime="onnxruntime", path=str(path),
                       sha256="0" * 64)


@pytest.mark.parametrize("arrays, needle", [
    ({"labels": np.arange(3)}, "holds no input arrays"),
    ({"x": np.zeros((3, 64)), "y": np.zeros((4, 2))}, "same number (>= 1) of examples"),
    ({"x": np.zeros((3, 64)), "labels": np.arange(4)}, "'labels' has 4 entries but the inputs hold 3"),
    ({"x": np.zeros((3, 64)), "pairs": np.array([[0, 5]]), "labels": np.array([1])}, "integer indices of examples"),
])
def test_a_malformed_npz_is_one_line(tmp_path: Path, arrays: Dict[str, Any], needle: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DatasetError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_npz(tmp_path / "d.npz")
    with pytest.raises(DatasetError, match="does not exist"):
        load_npz(tmp_path / "absent.npz")


def test_names_dtypes_and_shapes_against_the_onnx_signature(tmp_path: Path, tiny_onnx: Path) -> None:
    art = _art(tiny_onnx)
    assert check_against({"x": np.zeros((2, 64), np.float32)}, art, {}) is None
    assert "no array named 'x'" in check_against({"z": np.zeros((2, 64), np.float32)}, art, {})
    assert "is int64 but tiny/onnx-file's input 'x' takes float values" in check_against(
        {"x": np.zeros((2, 64), np.int64)}, art, {})
    assert "has 32 at axis 1" in check_against({"x": np.zeros((2, 32), np.float32)}, art, {})
    assert "rank 2 (8x8)" in check_against({"x": np.zeros((2, 8, 8), np.float32)}, art, {})


def test_default_metric_follows_the_labels() -> None:
    x = np.zeros((4, 2))
    assert default_metric({"x": x, "labels": np.arange(4)}, None) == "accuracy"
    assert default_metric({"x": x, "labels": np.zeros((4, 3))}, None) == "mse"
    assert default_metric({"x": x}, None) == "accuracy"  # agreement with the FP32 reference
    with pytest.raises(DatasetError, match="needs integer class labels"):
        default_metric({"x": x, "labels": np.zeros(4)}, "f1")
    with pytest.raises(DatasetError, match="needs 'labels'"):
        default_metric({"x": x}, "mse")


def test_attach_picks_the_fp32_reference_and_refuses_a_mismatch_before_any_run(tmp_path: Path,
                                                                               tiny_onnx: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 64), np.float32), labels=np.arange(5))
    arts = [_art(tiny_onnx, "onnx-fp32", "m"), _art(tiny_onnx, "onnx-int8-dynamic", "m")]
    jobs = attach_dataset(plan_jobs(["local"], arts, None, {}, {}, 60.0), str(tmp_path / "d.npz"), None, 2.0, arts)
    spec = jobs[1].accuracy
    assert (spec["metric"], spec["returns"], spec["examples"], spec["max_drop_pct"]) == ("accuracy", "topk", 5, 2.0)
    assert spec["reference"]["variant"] == "onnx-fp32" and spec["labels"] is True
    np.savez(tmp_path / "bad.npz", x=np.zeros((5, 63), np.float32))
    with pytest.raises(DatasetError, match="has 63 at axis 1 but m/onnx-fp32's input 'x' has 64 there"):
        attach_dataset(plan_jobs(["local"], arts, None, {}, {}, 60.0), str(tmp_path / "bad.npz"), None, None, arts)


def test_jsonl_pairs_are_tokenised_for_a_zoo_text_model(tmp_path: Path) -> None:
    lines = [{"text_a": "A cat sleeps.", "text_b": "A cat naps.", "label": 1},
             {"text_a": "A cat sleeps.", "text_b": "Taxes are due.", "label": 0}]
    src = tmp_path / "pairs.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    arrays = load_npz(jsonl_to_npz(src, ["minilm-l6"], 16))
    assert arrays["input_ids"].shape == (3, 16) and arrays["input_ids"][0, 0] == 101  # [CLS]
    assert arrays["pairs"].tolist() == [[0, 1], [0, 2]] and arrays["labels"].tolist() == [1, 0]
    assert default_metric(arrays, None) == "pairs"
    with pytest.raises(DatasetError, match="mobilevit-xs is not one"):
        jsonl_to_npz(src, ["mobilevit-xs"], 16)


def test_non_finite_outputs_make_a_job_invalid_naming_output_and_count() -> None:
    result = {"latencies_ms": [1.0] * 20, "outputs": [{"name": "logits", "non_finite_count": 64},
                                                      {"name": "pooled", "non_finite_count": 0}],
              "accuracy_pass": {"non_finite": {"logits": 320}}}
    v = verdict(result, {"p50_ms": 1.0})
    (w,) = [w for w in v["warnings"] if w["code"] == "non_finite_outputs"]
    assert not v["valid"] and w["severity"] == "invalid"
    assert "logits: 64 (timed runs), logits: 320 (accuracy pass)" in w["message"] and "pooled" not in w["message"]
    assert short_line(v).startswith("INVALID: non_finite_outputs (NaN/inf in output(s) logits: 64")
    clean = verdict(dict(result, outputs=[{"name": "logits", "non_finite_count": 0}], accuracy_pass={}), {"p50_ms": 1.0})
    assert not any(w["code"] == "non_finite_outputs" for w in clean["warnings"])
