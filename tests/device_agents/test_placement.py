"""Placement truth on the CPU, for real: requested vs used providers, nodes per provider, the compute unit,
and what a dropped provider does. (CI has no GPU: the CUDA path is run on the lent H100 and quoted in the
issue note; here the same checks run on real ONNX Runtime sessions.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from device_agents.runtimes.base import RuntimeUnavailable
from device_agents.runtimes.ort import OrtRuntime, _provider_log
from device_agents.units import primary_unit
from tests.conftest import agent_job, quick_measure

#: What onnxruntime-gpu 1.31.1 wrote to stderr on the lent H100 (2026-11-22) when a session asked for TensorRT
#: without TensorRT's libraries (ORT's log line, colour codes included, then its Python fallback notice).
TRT_MISSING_LOG = (
    "\x1b[1;31m2026-11-22 21:01:12.130965580 [E:onnxruntime:Default, provider_bridge_ort.cc:2430 operator()] "
    "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::Provider& "
    "onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library "
    "/opt/torch/.venv/lib/python3.12/site-packages/onnxruntime/capi/libonnxruntime_providers_tensorrt.so with error: "
    "libnvinfer.so.10: cannot open shared object file: No such file or directory\x1b[m\n"
    "*************** EP Error ***************\n"
    "EP Error /onnxruntime_src/onnxruntime/python/onnxruntime_pybind_state.cc:729 void "
    "onnxruntime::python::RegisterTensorRTPluginsAsCustomOps(PySessionOptions&, const onnxruntime::ProviderOptions&) "
    "Please install TensorRT libraries as mentioned in the GPU requirements page, make sure they're in the PATH or "
    "LD_LIBRARY_PATH, and that your GPU is supported.\n"
    " when using ['TensorrtExecutionProvider', 'CUDAExecutionProvider']\n"
    "Falling back to ['CUDAExecutionProvider', 'CPUExecutionProvider'] and retrying.\n")


def test_cpu_job_records_placement_and_unit(tmp_path: Path, tiny_onnx: Path) -> None:
    r = agent_job(tmp_path, {"job_id": "p", "model": {"path": str(tiny_onnx)}, "runtime": "onnxruntime",
                             "measure": quick_measure(sample_rate_hz=0.0)})
    assert r["status"] == "ok"
    placement = r["placement"]
    assert placement["requested"] == ["CPUExecutionProvider"] and placement["dropped"] == []
    assert "CPUExecutionProvider" in placement["used"] and r["compute_unit"] == "cpu"
    # tiny.onnx has MatMul, Add, Relu; ORT fuses MatMul+Add, so 1-3 nodes, all on the CPU
    assert set(placement["nodes_per_provider"]) == {"CPUExecutionProvider"}
    assert 1 <= placement["nodes_per_provider"]["CPUExecutionProvider"] <= 3
    assert r["device_timing"] is None and "gpu" not in r["memory"]


def test_provider_this_build_lacks_is_unavailable(tmp_path: Path, tiny_onnx: Path) -> None:
    r = agent_job(tmp_path, {"job_id": "p", "model": {"path": str(tiny_onnx)},
                             "runtime": {"name": "onnxruntime", "options": {"providers": ["CUDAExecutionProvider"]}},
                             "measure": quick_measure(sample_rate_hz=0.0)})
    assert r["status"] == "unavailable" and "CUDAExecutionProvider" in r["reason"]


def test_dropped_provider_is_unavailable_unless_fallback_allowed(tiny_onnx: Path) -> None:
    """A provider in the build that the session then drops (TensorRT without libnvinfer): the session here
    is a real CPU one; the request and ORT's log are those of the H100 run."""
    rt = OrtRuntime({})
    rt.load(str(tiny_onnx))
    with pytest.raises(RuntimeUnavailable) as err:
        rt._check_placement(["TensorrtExecutionProvider", "CPUExecutionProvider"], TRT_MISSING_LOG)
    msg = str(err.value)
    assert "dropped the requested execution provider(s) TensorrtExecutionProvider" in msg
    assert "libnvinfer.so.10: cannot open shared object file" in msg and "allow_fallback=true" in msg
    rt = OrtRuntime({"allow_fallback": True})
    rt.load(str(tiny_onnx))
    placement = rt._check_placement(["TensorrtExecutionProvider", "CPUExecutionProvider"], TRT_MISSING_LOG)
    assert placement["dropped"] == ["TensorrtExecutionProvider"]
    assert placement["warnings"][0].startswith("requested provider(s) TensorrtExecutionProvider were dropped")


def test_io_binding_without_a_gpu_is_a_clear_error(tmp_path: Path, tiny_onnx: Path) -> None:
    r = agent_job(tmp_path, {"job_id": "p", "model": {"path": str(tiny_onnx)},
                             "runtime": {"name": "onnxruntime", "options": {"io_binding": True}},
                             "measure": quick_measure(sample_rate_hz=0.0)})
    assert r["status"] == "error" and r["error_type"] == "bad_job" and "io_binding keeps inputs on a GPU" in r["error"]


@pytest.mark.parametrize("used, unit", [
    (["CPUExecutionProvider"], "cpu"),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], "gpu"),
    (["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], "gpu"),
    (["QNNExecutionProvider", "CPUExecutionProvider"], "npu"),
    (["AzureExecutionProvider", "CPUExecutionProvider"], "cpu"),
])
def test_primary_unit(used: list, unit: str) -> None:
    assert primary_unit(used) == unit


def test_provider_log_keeps_the_reason() -> None:
    assert "libnvinfer.so.10" in _provider_log(TRT_MISSING_LOG) and "\x1b" not in _provider_log(TRT_MISSING_LOG)
    assert _provider_log("2026 [I:onnxruntime] session created\n") == ""


def test_gpu_memory_uses_one_method_for_every_phase() -> None:
    """NVML lists a process only once it has a CUDA context: the H100 run of 2026-11-22 saw no per-process
    figure before the load and 763 MB after it. Then the per-process figure is used throughout (0 before);
    where NVML never lists the process, device-wide memory is used throughout, as an estimate."""
    from device_agents.cuda import gpu_memory_report

    before = {"process_bytes": None, "device_used_bytes": 503316480}
    phases = {"load": {"process_bytes": 763363328, "device_used_bytes": 1266679808},
              "steady_state": {"process_bytes": 765460480, "device_used_bytes": 1268776960}}
    rep = gpu_memory_report(before, phases)
    assert rep["method"].startswith("NVML per-process") and rep["is_estimate"] is False
    assert rep["baseline_bytes"] == 0 and rep["peak_over_baseline_bytes"] == 765460480
    hidden = {k: {"process_bytes": None, "device_used_bytes": v["device_used_bytes"]} for k, v in phases.items()}
    rep = gpu_memory_report(before, hidden)
    assert rep["is_estimate"] is True and rep["peak_over_baseline_bytes"] == 1268776960 - 503316480
    none = gpu_memory_report({"process_bytes": None, "device_used_bytes": None, "reason": "NVML unavailable: x"}, {})
    assert none["per_phase_bytes"] is None and none["reason"] == "NVML unavailable: x"
