"""The agent's microbenchmark command on a small job (real runtimes, real numpy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_agents.microbench.bandwidth import last_level_cache_bytes, measure_bandwidth, working_set_sweep
from device_agents.microbench.compute import until_stable
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
    assert fp32["gops"] > 0 and len(fp32["times_ms"]) == 3 * len(fp32["trial_gops"]) and "best-of-3" in fp32["method"]
    assert fp32["gops"] == max(fp32["trial_gops"]) and 0 <= fp32["spread_rel"] < 1
    assert fp32["runtime_version"] and isinstance(fp32["stable"], bool)
    assert fp16["gops"] is None and "missing" in fp16["reason"]
    bw = out["bandwidth"]
    for k in ("copy", "scale", "add", "triad"):
        assert bw["%s_gbps" % k] > 0.1
    assert bw["array_bytes"] == 8 * 1024 * 1024
    assert [s["working_set_bytes"] for s in out["sweep"]] == sorted(s["working_set_bytes"] for s in out["sweep"])
    assert bw["triad_spread_rel"] is not None and len(bw["trial_gbps"]["copy"]) >= 3
    # provenance: the state a cached ceiling depends on, and the conditions it was measured under
    assert out["state"]["runtime_versions"]["onnxruntime"] and "governors" in out["state"]
    assert out["conditions"]["during"]["seconds"] > 0 and "other_busy_cores" in out["conditions"]["during"]


def test_state_only_job(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"state_only": True}))
    proc = run_agent(["microbench", "s.json", "--out", "out.json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    state = json.loads((tmp_path / "out.json").read_text())["state"]
    assert state["numpy_version"] and state["runtime_versions"]["onnxruntime"]


def test_until_stable_stops_when_the_last_trials_agree() -> None:
    seq = iter([50.0, 80.0, 98.0, 100.0, 99.0, 60.0])
    out = until_stable(lambda: next(seq), max_trials=10, max_s=60)
    assert out["stable"] and out["trials"] == [50.0, 80.0, 98.0, 100.0, 99.0] and out["best"] == 100.0
    assert out["spread_rel"] == pytest.approx(0.02)
    # a neighbour's bursts slow some trials: the peak counts once it has been reached three times
    bursty = iter([100.0, 50.0, 99.0, 40.0, 98.0, 30.0])
    out = until_stable(lambda: next(bursty), max_trials=10, max_s=60)
    assert out["stable"] and len(out["trials"]) == 5 and out["best"] == 100.0
    moving = iter([10.0, 20.0, 30.0, 40.0, 50.0])
    out = until_stable(lambda: next(moving), max_trials=5, max_s=60)
    assert not out["stable"] and out["best"] == 50.0 and out["spread_rel"] == pytest.approx(0.4)


def test_default_arrays_are_at_least_four_times_the_llc() -> None:
    llc, source = last_level_cache_bytes()
    if llc is None:
        pytest.skip("cache size not readable here: %s" % source)
    bw = measure_bandwidth(repeats=1)
    assert bw["array_bytes"] >= 4 * llc or "memory-capped" in bw["method"]
    assert working_set_sweep(max_bytes=64 * 1024)[0]["working_set_bytes"] <= 16 * 1024
