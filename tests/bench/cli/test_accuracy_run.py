"""``bench run --dataset`` end to end (real subprocess, real ONNX Runtime): a held-out classifier's accuracy as each
job reports it equals ONNX Runtime's on the host at batch 1; NaN outputs make a job invalid everywhere."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest

from tests.bench.cli.test_cli_run import bench
from tests.device_agents.test_accuracy import _nan_onnx

QUICK = ["--ceilings", "skip", "--sample-rate", "0", "--runs", "10", "--min-seconds", "0", "--warmup", "1"]


def _train_classifier(tmp_path: Path) -> Tuple[Path, Path, Path]:
    """A 16-32-4 MLP trained here (numpy, full-batch gradient descent, ~1 s) on Gaussian blobs, exported to ONNX,
    its INT8 copy (onnxruntime.quantization, dynamic), and a labelled held-out .npz the training never saw."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(1)
    classes, dim, hidden = 4, 16, 32
    centers = rng.standard_normal((classes, dim)) * 1.2

    def sample(n: int) -> Tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, classes, n)
        return (centers[y] + rng.standard_normal((n, dim)) * 1.5).astype(np.float32), y

    x, y = sample(800)
    w1, b1 = rng.standard_normal((dim, hidden)) * 0.3, np.zeros(hidden)
    w2, b2 = rng.standard_normal((hidden, classes)) * 0.3, np.zeros(classes)
    for _ in range(300):
        h = np.maximum(x @ w1 + b1, 0)
        z = h @ w2 + b2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = p.copy()
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        gh = g @ w2.T * (h > 0)
        for param, grad in ((w1, x.T @ gh), (b1, gh.sum(0)), (w2, h.T @ g), (b2, g.sum(0))):
            param -= 0.5 * grad
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in ((w1, "W1"), (b1, "b1"), (w2, "W2"), (b2, "b2"))]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h"]), helper.make_node("MatMul", ["h", "W2"], ["z0"]),
             helper.make_node("Add", ["z0", "b2"], ["logits"])]
    graph = helper.make_graph(nodes, "clf", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", dim])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    fp32, int8 = tmp_path / "clf_fp32.onnx", tmp_path / "clf_int8.onnx"
    onnx.save(model, str(fp32))
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    xt, yt = sample(150)
    np.savez(tmp_path / "heldout.npz", x=xt, labels=yt)
    return fp32, int8, tmp_path / "heldout.npz"


def _host_accuracy(model: Path, data: Path) -> float:
    """ONNX Runtime on the host, one example at a time (batch 1): top-1 accuracy."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    with np.load(data) as npz:
        x, y = npz["x"], npz["labels"]
    pred = [int(np.argmax(sess.run(None, {"x": x[i:i + 1]})[0])) for i in range(len(x))]
    return float(np.mean(np.array(pred) == y))


def _jobs(results: Path) -> Dict[str, dict]:
    return {d["model_name"]: d for d in (json.loads(p.read_text()) for p in results.glob("*/jobs/*.json"))}


@pytest.mark.slow  # ~20 s: two real jobs and a report
def test_heldout_accuracy_of_each_job_equals_onnx_runtime_on_the_host(tmp_path: Path) -> None:
    fp32, int8, data = _train_classifier(tmp_path)
    proc = bench(["run", "--model-file", str(fp32), "--model-file", str(int8), "--dataset", str(data)] + QUICK)
    assert proc.returncode in (0, 4), proc.stderr
    jobs = _jobs(tmp_path / "results")
    assert set(jobs) == {"clf_fp32", "clf_int8"}
    for name, model in (("clf_fp32", fp32), ("clf_int8", int8)):
        acc = jobs[name]["accuracy"]
        expected = _host_accuracy(model, data)
        assert expected > 0.7  # the classifier learned something: the comparison means something
        assert acc["metric"] == "accuracy" and acc["n"] == 150 and acc["labels_source"] == "dataset labels"
        assert acc["value"] == pytest.approx(expected, abs=1e-12)
        assert acc["ci95"][0] < acc["value"] < acc["ci95"][1]
        assert jobs[name]["accuracy_pass"]["batch"] == 1
    with open(next((tmp_path / "results").glob("*/summary.csv"))) as fh:
        rows = list(csv.DictReader(fh))
    assert {r["accuracy_metric"] for r in rows} == {"accuracy"}
    html = next((tmp_path / "results").glob("*/report.html")).read_text()
    assert "Accuracy and the quantization sweet spot" in html


def test_a_dataset_that_does_not_fit_is_refused_before_a_run_folder_exists(tmp_path: Path, tiny_onnx: Path) -> None:
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 32), np.float32))
    proc = bench(["run", "--model-file", str(tiny_onnx), "--dataset", str(tmp_path / "bad.npz")] + QUICK)
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert "dataset array 'x' has 32 at axis 1 but tiny/onnx-file's input 'x' has 64 there" in line
    assert not list((tmp_path / "results").glob("*/manifest.json"))


def test_nan_outputs_make_the_job_invalid_on_its_line_table_and_report(tmp_path: Path) -> None:
    model = _nan_onnx(tmp_path / "nan.onnx")
    proc = bench(["run", "--model-file", str(model), "--strict"] + QUICK)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # --strict: a measured job that is not valid
    assert "INVALID: non_finite_outputs (NaN/inf in output(s) y: 8 (timed runs)" in proc.stdout, proc.stdout
    with open(next((tmp_path / "results").glob("*/summary.csv"))) as fh:
        row = next(csv.DictReader(fh))
    assert row["valid"] == "NO" and "non_finite_outputs" in row["validity_warnings"]
    html = next((tmp_path / "results").glob("*/report.html")).read_text()
    assert "non_finite_outputs" in html and "y: 8 (timed runs)" in html
