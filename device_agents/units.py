"""Compute units: which part of the device a provider or delegate runs a model on.

A job runs on (device, compute unit). The unit is read off what the runtime actually used (ORT's
session providers, LiteRT's delegate), never off what the job asked for.
"""

from __future__ import annotations

from typing import Iterable, Optional

CPU, GPU, NPU = "cpu", "gpu", "npu"

#: ONNX Runtime execution providers and the unit each runs on (CoreML's depends on its compute units).
ORT_PROVIDER_UNIT = {
    "CPUExecutionProvider": CPU,
    "XnnpackExecutionProvider": CPU,
    "DnnlExecutionProvider": CPU,
    "OpenVINOExecutionProvider": CPU,
    "ACLExecutionProvider": CPU,
    "ArmNNExecutionProvider": CPU,
    "CUDAExecutionProvider": GPU,
    "TensorrtExecutionProvider": GPU,
    "NvTensorRTRTXExecutionProvider": GPU,
    "ROCMExecutionProvider": GPU,
    "MIGraphXExecutionProvider": GPU,
    "DmlExecutionProvider": GPU,
    "WebGpuExecutionProvider": GPU,
    "NnapiExecutionProvider": NPU,
    "QNNExecutionProvider": NPU,
    "VitisAIExecutionProvider": NPU,
    "CoreMLExecutionProvider": NPU,
}


def unit_of_provider(name: str) -> Optional[str]:
    """The unit of one ORT provider, or None when this table does not know it."""
    return ORT_PROVIDER_UNIT.get(name)


def primary_unit(used_providers: Iterable[str]) -> str:
    """The unit a session mainly runs on: the first non-CPU provider it kept (ORT orders providers by
    priority and gives each node to the first that takes it), else the CPU."""
    for name in used_providers:
        unit = unit_of_provider(name)
        if unit and unit != CPU:
            return unit
    return CPU
