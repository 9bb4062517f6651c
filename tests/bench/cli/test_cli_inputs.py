"""Every input checked before any work (issue 25): out-of-range numbers, abbreviated flags and variants no
selected device can run are refused in seconds, with no run folder; a resume keeps the run's own settings."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.bench.cli.test_cli_run import QUICK, bench, only_run


@pytest.mark.parametrize("args, says", [
    (["--runs", "0"], "--runs: 0 is out of range: give at least 1"),
    (["--runs", "-5"], "--runs: -5 is out of range"),
    (["--min-seconds", "-1"], "--min-seconds: -1 is out of range"),
    (["--rounds", "0"], "--rounds: 0 is out of range"),
    (["--job-timeout", "0"], "--job-timeout: 0 is out of range: give more than"),
    (["--warmup", "many"], "--warmup: 'many' is not a whole number"),
    (["--thread", "2"], "unrecognized arguments: --thread 2"),  # never taken for --threads
    (["--variants", "coreml-fp16"], "coreml-fp16 runs only on apple devices"),
    (["--variants", "onnx-fp32,pte-coreml-fp16"], "pte-coreml-fp16 runs only on apple devices"),
    (["--resume", ""], "--resume needs a run id"),
])
def test_bad_input_is_refused_before_any_work(tmp_path: Path, args: list, says: str) -> None:
    t0 = time.monotonic()
    proc = bench(["run"] + args, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stderr, proc.stderr
    assert time.monotonic() - t0 < 30  # refused up front (generous bound: only a hang would break it)
    results = tmp_path / "results"
    assert not results.exists() or not any(results.iterdir())  # no run folder, nothing built or measured


def test_a_config_file_is_held_to_the_same_ranges(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("runs: 0\n")
    proc = bench(["run", "--config", str(cfg)], timeout=60)
    assert proc.returncode == 2 and "runs must be" in proc.stderr and "out of range" in proc.stderr, proc.stderr


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_resume_keeps_the_runs_own_ceilings_setting(tmp_path: Path, tiny_onnx: Path) -> None:
    """A run started with --ceilings skip is resumed with it: the device's ceilings are not measured."""
    assert bench(["run", "--model-file", str(tiny_onnx), "--ceilings", "skip", "--sample-rate", "0"] + QUICK
                 ).returncode == 0
    run = only_run(tmp_path / "results")
    (job_file,) = list((run / "jobs").glob("*.json"))
    job_file.unlink()  # as if the run had been interrupted before its job finished
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["state"] = "interrupted"
    (run / "manifest.json").write_text(json.dumps(manifest))
    proc = bench(["run", "--resume", run.name])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (run / "jobs" / job_file.name).exists()
    assert not (run / "ceilings").exists() or not any((run / "ceilings").iterdir()), "ceilings measured on resume"


def _exported_at_32(path: Path) -> Path:
    """A real ONNX model whose input axis is declared dynamic but whose graph was exported at length 32 (a
    Reshape to [1, 32, 4] baked in), as torch's exporter leaves some models."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    target = numpy_helper.from_array(np.array([1, 32, 4], dtype=np.int64), "target")
    w = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "target"], ["r"]), helper.make_node("MatMul", ["r", "W"], ["y"])],
        "at32", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "seq", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 4])], initializer=[target, w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_a_model_exported_at_another_length_says_which_and_how(tmp_path: Path) -> None:
    """Issue 25: an ONNX file exported at length 32 ran at the default 128 and failed with ORT's Reshape error
    and no hint; the roofline then showed an empty table with no reason."""
    model = _exported_at_32(tmp_path / "at32.onnx")
    proc = bench(["run", "--model-file", str(model), "--ceilings", "skip", "--sample-rate", "0"] + QUICK)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "ERROR (inference)" in ln)
    assert "x 1x128x4" in line and "--seq-len 32" in line, line
    proc = bench(["run", "--model-file", str(model), "--ceilings", "skip", "--sample-rate", "0", "--seq-len", "32"]
                 + QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = sorted(p for p in (tmp_path / "results").iterdir() if (p / "manifest.json").exists())
    md = (runs[-1] / "report.md").read_text()
    roof = md.split("## Roofline")[1].split("\n## ")[0]
    assert "| at32 |" in roof  # counted at the length it ran at: a row, not an empty table
