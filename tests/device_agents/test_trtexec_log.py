"""The trtexec log parser on real trtexec output (TensorRT 10.16, H100; tests/fixtures/tools/, copied from ../shared/fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_agents.trtexec_log import TrtexecLogError, parse_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tools"
DEFAULT_RUN = FIXTURES / "trtexec_result-01_default_run.log"
PROFILE_RUN = FIXTURES / "trtexec_result-05_dumpProfile.log"



def test_default_run_summary_build_and_memory() -> None:
    r = parse_log(DEFAULT_RUN.read_text())
    assert r["passed"] and not r["failed"]
    assert r["tensorrt_version"] == "10.16.1" and r["device"] == "NVIDIA H100 PCIe"
    assert r["compute_capability"] == "9.0" and r["precision"] == "FP32"
    assert r["engine_build_s"] == pytest.approx(8.09138)
    assert r["engine_bytes"] == round(12.5744 * 1024 * 1024)
    assert r["activation_memory_bytes"] == 125440 and r["weights_memory_bytes"] == 13100672
    assert r["throughput_qps"] == pytest.approx(15374.3)
    assert (r["queries"], r["window_s"], r["warmup_queries"]) == (46125, pytest.approx(3.00013), 3057)
    gpu = r["summary"]["gpu_compute"]
    assert gpu["median_ms"] == pytest.approx(0.0361328) and gpu["p90_ms"] == pytest.approx(0.0368652)
    assert gpu["p99_ms"] == pytest.approx(0.041748) and gpu["min_ms"] == pytest.approx(0.0331421)
    assert set(r["summary"]) == {"host_latency", "enqueue", "h2d", "gpu_compute", "d2h"}
    assert r["summary"]["host_latency"]["median_ms"] == pytest.approx(0.0440674)
    assert [(b["io"], b["name"], b["shape"], b["dtype"]) for b in r["bindings"]] == [
        ("input", "x", [1, 1, 28, 28], "fp32"), ("output", "y", [1, 10], "fp32"), ("output", "z", [1], "int64")]
    assert any("coefficient of variance" in w for w in r["warnings"])
    assert r["profile"] is None


def test_dump_profile_run_has_layers_and_no_end_to_end_summary() -> None:
    r = parse_log(PROFILE_RUN.read_text())
    assert r["summary"] == {} and "dumpProfile" in r["summary_reason"]
    assert "--exportTimes" in r["command"]
    prof = r["profile"]
    assert prof["iterations"] == 18362 and len(prof["layers"]) == 15
    assert prof["layers"][1] == {"layer": "node_conv2d_myl0_1", "total_ms": 193.5, "mean_ms": 0.0105,
                                 "median_ms": 0.0098, "percent": 12.7}
    assert prof["total"]["mean_ms"] == pytest.approx(0.0833)
    assert sum(x["percent"] for x in prof["layers"]) == pytest.approx(100.0, abs=0.5)
    assert r["context_device_memory_bytes"] == round(1.91406 * 1024 * 1024)


def test_other_text_is_refused() -> None:
    with pytest.raises(TrtexecLogError):
        parse_log("Throughput: 1 qps\n")
