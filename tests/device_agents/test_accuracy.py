"""The agent's accuracy pass (device_agents/accuracy.py), in a real agent process on real ONNX models."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

from tests.conftest import agent_job, quick_measure


def _nan_onnx(path: Path) -> Path:
    """A real ONNX model whose output is NaN for every input: y = x * NaN."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nan = numpy_helper.from_array(np.array([np.nan], dtype=np.float32), "nan")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "nan"], ["y"])], "nan",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])], initializer=[nan])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _job(model: Path, accuracy: Dict[str, Any], **measure: Any) -> Dict[str, Any]:
    return {"job_id": "acc", "model": {"path": str(model)}, "runtime": "onnxruntime",
            "measure": quick_measure(**measure), "accuracy": accuracy}


def _host(model: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])


def test_pass_returns_topk_per_example_at_the_jobs_batch(tmp_path: Path, tiny_onnx: Path) -> None:
    x = np.random.default_rng(3).standard_normal((7, 64)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, labels=np.arange(7))
    res = agent_job(tmp_path, _job(tiny_onnx, {"dataset_path": str(tmp_path / "d.npz"),
                                               "reference_path": str(tiny_onnx), "reference_runtime": "onnxruntime"},
                                   batch=3))  # 7 examples at batch 3: the last batch is padded
    assert res["status"] == "ok", res.get("error")
    acc = res["accuracy_pass"]
    assert (acc["n"], acc["batch"], acc["output"], acc["non_finite"]) == (7, 3, "y", {"y": 0})
    host = _host(tiny_onnx, x)
    assert [t[0] for t in acc["topk"]] == [int(i) for i in host.argmax(axis=1)]
    assert all(len(t) == 5 for t in acc["topk"])
    assert acc["reference"]["top1_agree"] == [True] * 7
    assert all(c == pytest.approx(1.0) for c in acc["reference"]["cosine"])
    assert "accuracy" in res["phases_s"]


def test_outputs_mode_returns_the_vectors(tmp_path: Path, tiny_onnx: Path) -> None:
    x = np.random.default_rng(4).standard_normal((4, 64)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x)
    res = agent_job(tmp_path, _job(tiny_onnx, {"dataset_path": str(tmp_path / "d.npz"), "returns": "outputs"}))
    assert np.allclose(np.array(res["accuracy_pass"]["outputs"]), _host(tiny_onnx, x), atol=1e-5)


@pytest.mark.parametrize("arrays, needle", [
    ({"x": np.zeros((3, 32), np.float32)}, "examples of shape 32"),
    ({"z": np.zeros((3, 64), np.float32)}, "no array for input 'x'"),
    ({"x": np.zeros((3, 64), dtype=bool)}, "takes float32"),
])
def test_a_dataset_that_does_not_fit_is_a_reason_not_a_failed_job(tmp_path: Path, tiny_onnx: Path,
                                                                  arrays: Dict[str, Any], needle: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    res = agent_job(tmp_path, _job(tiny_onnx, {"dataset_path": str(tmp_path / "d.npz")}))
    assert res["status"] == "ok"
    assert needle in res["accuracy_pass"]["error"]
    assert any("accuracy pass not run" in w for w in res["warnings"])


def test_a_stale_dataset_is_refused_by_hash(tmp_path: Path, tiny_onnx: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 64), np.float32))
    res = agent_job(tmp_path, _job(tiny_onnx, {"dataset_path": str(tmp_path / "d.npz"), "dataset_sha256": "0" * 64}))
    assert "sha256 differs" in res["accuracy_pass"]["error"]


def test_non_finite_outputs_are_counted_per_output(tmp_path: Path) -> None:
    model = _nan_onnx(tmp_path / "nan.onnx")
    np.savez(tmp_path / "d.npz", x=np.ones((5, 8), np.float32))
    res = agent_job(tmp_path, _job(model, {"dataset_path": str(tmp_path / "d.npz"), "returns": "outputs"}))
    assert res["outputs"][0]["non_finite_count"] == 8
    assert res["accuracy_pass"]["non_finite"] == {"y": 40}
    assert res["accuracy_pass"]["outputs"][0] == [None] * 8  # JSON has no NaN: a null per value


def test_bad_accuracy_spec_is_a_bad_job(tmp_path: Path, tiny_onnx: Path) -> None:
    res = agent_job(tmp_path, _job(tiny_onnx, {"dataset_path": "x.npz", "returns": "everything"}))
    assert res["error_type"] == "bad_job" and "returns" in res["error"]
