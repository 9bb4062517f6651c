"""The agent's JSON protocol, run as a separate process exactly as on a device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import agent_job, quick_measure, run_agent


def test_probe_prints_device_facts(tmp_path: Path) -> None:
    proc = run_agent(["probe"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    for key in ("os", "kernel", "arch", "cpu_model", "cpu_cores_logical", "memory_total_bytes", "python_version",
                "runtimes", "agent_version"):
        assert key in facts
    assert facts["memory_total_bytes"] > 0
    assert facts["runtimes"]["onnxruntime"]["available"] is True
    assert facts["runtimes"]["onnxruntime"]["version"]
    assert facts["runtimes"]["litert"]["available"] is True
    # this machine has no cpufreq: the governor is null with a reason, not a guess
    if facts["cpu_governor"] is None:
        assert "absent" in facts["cpu_governor_reason"]


def test_run_onnx_job_writes_one_result(tmp_path: Path, tiny_onnx: Path) -> None:
    result = agent_job(tmp_path, {"job_id": "j1", "model": {"path": str(tiny_onnx), "format": "onnx"},
                                  "runtime": {"name": "onnxruntime", "options": {"threads": 1}},
                                  "measure": quick_measure(min_runs=25)})
    assert result["status"] == "ok", result
    assert result["job_id"] == "j1"
    assert len(result["latencies_ms"]) == result["timing"]["runs"] >= 25
    assert all(v > 0 for v in result["latencies_ms"])
    assert result["timing"]["load_ms"] > 0 and result["timing"]["first_inference_ms"] > 0
    assert result["inputs"] == [{"name": "x", "shape": [1, 64], "dtype": "float32", "fill": "normal(0,1)", "seed": 0}]
    assert result["outputs"][0]["shape"] == [1, 32]
    assert result["runtime"]["intra_op_threads"] == 1
    assert result["device"]["arch"]
    assert result["method"]["timer"].startswith("time.perf_counter_ns")
    phases = [p["phase"] for p in result["memory"]["phases"]]
    assert phases == ["load", "first_inference", "steady_state"]


def test_same_seed_same_inputs_and_outputs(tmp_path: Path, tiny_onnx: Path) -> None:
    job = {"job_id": "s", "model": {"path": str(tiny_onnx)}, "runtime": "onnxruntime", "measure": quick_measure()}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = agent_job(tmp_path / "a", job)
    b = agent_job(tmp_path / "b", job)
    assert a["outputs"][0]["sha256"] == b["outputs"][0]["sha256"]
    job["measure"]["seed"] = 1
    (tmp_path / "c").mkdir()
    c = agent_job(tmp_path / "c", job)
    assert c["outputs"][0]["sha256"] != a["outputs"][0]["sha256"]


def test_malformed_job_is_a_bad_job_error(tmp_path: Path) -> None:
    result = agent_job(tmp_path, {"job_id": "x", "runtime": "onnxruntime"})
    assert result["status"] == "error" and result["error_type"] == "bad_job"
    assert "model" in result["error"]


@pytest.mark.parametrize("patch, needle", [
    ({"measure": {"min_runs": "50"}}, "job.measure.min_runs must be int, not '50'"),
    ({"measure": {"pin_cores": [0, "one"]}}, "job.measure.pin_cores must be"),
    ({"measure": {"sample_rate_hz": True}}, "job.measure.sample_rate_hz must be float, not True"),
    ({"measure": {"warmup": 3}}, "job.measure has an unknown field 'warmup'"),
    ({"measure": [1, 2]}, "job.measure must be an object, not list"),
    ({"model": {"path": 7}}, "job.model.path must be str, not 7"),
    ({"runtime": {"name": 3}}, "job.runtime must be a runtime name or an object with a string 'name'"),
    ({"runtime": {"name": "onnxruntime", "options": [1]}}, "job.runtime.options must be an object"),
])
def test_wrong_types_in_a_job_name_the_field(tmp_path: Path, patch: dict, needle: str) -> None:
    job = {"job_id": "x", "model": {"path": "m.onnx"}, "runtime": "onnxruntime"}
    job.update(patch)
    result = agent_job(tmp_path, job)
    assert result["status"] == "error" and result["error_type"] == "bad_job"
    assert needle in result["error"] and "TypeError" not in result["error"]


def test_unreadable_job_file(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text("{not json")
    proc = run_agent(["run", "job.json", "--out", "result.json"], tmp_path)
    assert proc.returncode == 2
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["error_type"] == "bad_job" and "job.json" in result["error"]


def test_unknown_runtime_and_unknown_option(tmp_path: Path, tiny_onnx: Path) -> None:
    r = agent_job(tmp_path, {"job_id": "u", "model": {"path": str(tiny_onnx)}, "runtime": "tensorrt-x"})
    assert r["status"] == "error" and "unknown runtime" in r["error"] and "onnxruntime" in r["error"]
    r = agent_job(tmp_path, {"job_id": "o", "model": {"path": str(tiny_onnx)},
                             "runtime": {"name": "onnxruntime", "options": {"thredas": 2}}})
    assert r["status"] == "error" and r["error_type"] == "bad_job"
    assert "thredas" in r["error"] and "threads" in r["error"]


def test_missing_provider_is_unavailable_with_reason(tmp_path: Path, tiny_onnx: Path) -> None:
    r = agent_job(tmp_path, {"job_id": "p", "model": {"path": str(tiny_onnx)},
                             "runtime": {"name": "onnxruntime", "options": {"providers": ["CUDAExecutionProvider"]}},
                             "measure": quick_measure()})
    assert r["status"] == "unavailable"
    assert "CUDAExecutionProvider" in r["reason"] and "CPUExecutionProvider" in r["reason"]


def test_missing_and_corrupt_model(tmp_path: Path, tiny_onnx: Path) -> None:
    r = agent_job(tmp_path, {"job_id": "m", "model": {"path": str(tmp_path / "nope.onnx")}, "runtime": "onnxruntime"})
    assert r["status"] == "error" and r["error_type"] == "model_missing" and "nope.onnx" in r["error"]
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(tiny_onnx.read_bytes()[:300])
    r = agent_job(tmp_path, {"job_id": "c", "model": {"path": str(bad)}, "runtime": "onnxruntime"})
    assert r["status"] == "error" and r["error_type"] == "model_load" and "corrupt.onnx" in r["error"]
    r = agent_job(tmp_path, {"job_id": "h", "model": {"path": str(tiny_onnx), "sha256": "0" * 64},
                             "runtime": "onnxruntime"})
    assert r["status"] == "error" and r["error_type"] == "model_corrupt"


def test_pinning_to_one_core(tmp_path: Path, tiny_onnx: Path) -> None:
    r = agent_job(tmp_path, {"job_id": "pin", "model": {"path": str(tiny_onnx)}, "runtime": "onnxruntime",
                             "measure": quick_measure(pin_cores=[0])})
    assert r["status"] == "ok"
    assert r["pinning"] == {"pinned": True, "cpu_affinity": [0]}
