"""The agent's microbenchmark command on a small job (real runtimes, real numpy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_agents.microbench.bandwidth import last_level_cache_bytes, measure_bandwidth, working_set_sweep
from tests.conftest import run_agent


def test_microbench_command_small(tmp_path: Path, tiny_onnx: Path) -> None:
    job = {"repeats": 3, "compute": [
        {"runtime": "onnxruntime", "precision": "fp32", "path": str(tiny_onnx), "ops_per_run": 2 * 64 * 32,
         "shape": [1, 32, 64]},
        {"runtime": "onnxruntime", "precision": "fp16", "path": str(tmp_path / "missing.onnx"), "ops_per_run": 1}],
        "bandwidth": {"array_bytes": 8 * 1024 * 1024, "repeats": 2, "sweep_max_bytes": 256 * 1024}}
    (tmp_path / "mb.json").write_text(json.dumps(job))
    proc = run_agent(["microbench", "mb.json", "--out", "out.json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    fp32, fp16 = out["compute"]
    assert fp32["gops"] > 0 and len(fp32["times_ms"]) == 3 and "best of 3" in fp32["method"]
    assert fp16["gops"] is None and "missing" in fp16["reason"]
    bw = out["bandwidth"]
    for k in ("copy", "scale", "add", "triad"):
        assert bw["%s_gbps" % k] > 0.1
    assert bw["array_bytes"] == 8 * 1024 * 1024
    assert [s["working_set_bytes"] for s in out["sweep"]] == sorted(s["working_set_bytes"] for s in out["sweep"])


def test_default_arrays_are_at_least_four_times_the_llc() -> None:
    llc, source = last_level_cache_bytes()
    if llc is None:
        pytest.skip("cache size not readable here: %s" % source)
    bw = measure_bandwidth(repeats=1)
    assert bw["array_bytes"] >= 4 * llc or "memory-capped" in bw["method"]
    assert working_set_sweep(max_bytes=64 * 1024)[0]["working_set_bytes"] <= 16 * 1024
