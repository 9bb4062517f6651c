"""TensorRT: engine options, the trtexec command they stand for, cache keys, and unavailability here."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_agents.runtimes.base import BadOption
from device_agents.runtimes.tensorrt import TensorRtRuntime, engine_cache_key, engine_plan, trtexec_args
from tests.conftest import agent_job, quick_measure


@pytest.mark.parametrize("precision,flags,cli", [("fp32", [], []), ("fp16", ["FP16"], ["--fp16"]),
                                                 ("int8", ["INT8"], ["--int8"]), ("best", ["FP16", "INT8"], ["--best"])])
def test_precision_sets_builder_flags_and_trtexec_flags(precision: str, flags, cli) -> None:
    plan = engine_plan({"precision": precision})
    assert plan["flags"] == flags and plan["strongly_typed"] is False
    assert trtexec_args("m.onnx", "m.engine", {"precision": precision}) == [
        "trtexec", "--onnx=m.onnx", "--saveEngine=m.engine"] + cli


def test_workspace_level_and_strong_typing() -> None:
    opts = {"strongly_typed": True, "workspace_mb": 512, "builder_optimization_level": 5}
    plan = engine_plan(opts)
    assert plan["workspace_bytes"] == 512 * 1024 * 1024 and plan["builder_optimization_level"] == 5
    assert trtexec_args("a.onnx", "a.engine", opts)[3:] == ["--stronglyTyped", "--memPoolSize=workspace:512M",
                                                            "--builderOptimizationLevel=5"]


@pytest.mark.parametrize("opts", [{"precision": "int4"}, {"strongly_typed": True, "precision": "fp16"},
                                  {"builder_optimization_level": 9}, {"unknown": 1}])
def test_impossible_options_are_refused(opts) -> None:
    with pytest.raises(BadOption):
        TensorRtRuntime(opts)


def test_cache_key_changes_with_device_version_and_options() -> None:
    plan = engine_plan({})
    base = engine_cache_key("abc", "NVIDIA H100 PCIe", "10.16.1", plan)
    assert base == engine_cache_key("abc", "NVIDIA H100 PCIe", "10.16.1", engine_plan({}))
    others = {engine_cache_key("abd", "NVIDIA H100 PCIe", "10.16.1", plan),
              engine_cache_key("abc", "Orin", "10.16.1", plan),
              engine_cache_key("abc", "NVIDIA H100 PCIe", "10.3.0", plan),
              engine_cache_key("abc", "NVIDIA H100 PCIe", "10.16.1", engine_plan({"precision": "fp16"}))}
    assert base not in others and len(others) == 4


def test_threads_from_the_command_line_are_accepted() -> None:
    assert TensorRtRuntime({"threads": 2}).options["threads"] == 2


@pytest.mark.skipif(TensorRtRuntime.availability().available, reason="TensorRT is installed here")
def test_job_is_unavailable_with_the_install_hint(tmp_path: Path, tiny_onnx: Path) -> None:
    r = agent_job(tmp_path, {"job_id": "trt", "model": {"path": str(tiny_onnx), "format": "onnx"},
                             "runtime": {"name": "tensorrt", "options": {"precision": "fp16"}},
                             "measure": quick_measure()})
    assert r["status"] == "unavailable" and r["error_type"] == "runtime_missing"
    assert "pip install tensorrt" in r["reason"] and "trtexec" in r["reason"]
