"""Registry of runtimes. Each lives in its own module and is imported only when asked for."""

from __future__ import annotations

import importlib
from typing import Any, Dict, Type

from .base import Runtime, RuntimeUnavailable

#: runtime name -> (module, class). Aliases map common names onto these.
_REGISTRY = {
    "onnxruntime": ("device_agents.runtimes.ort", "OrtRuntime"),
    "litert": ("device_agents.runtimes.litert", "LiteRtRuntime"),
    "coreml": ("device_agents.runtimes.coreml", "CoreMlRuntime"),
    "torch": ("device_agents.runtimes.torch_rt", "TorchRuntime"),
    "executorch": ("device_agents.runtimes.executorch_rt", "ExecuTorchRuntime"),
    "tensorrt": ("device_agents.runtimes.tensorrt", "TensorRtRuntime"),
}
_ALIASES = {"ort": "onnxruntime", "tflite": "litert", "ai-edge-litert": "litert", "pytorch": "torch", "trt": "tensorrt"}


def canonical_name(name: str) -> str:
    """The registry name of ``name`` (aliases resolved); raises KeyError for an unknown runtime."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _REGISTRY:
        raise KeyError("unknown runtime %r; known: %s" % (name, ", ".join(sorted(_REGISTRY))))
    return key


def runtime_names() -> list:
    return sorted(_REGISTRY)


def runtime_class(name: str) -> Type[Runtime]:
    module, cls = _REGISTRY[canonical_name(name)]
    return getattr(importlib.import_module(module), cls)


def runtime_availability() -> Dict[str, Dict[str, Any]]:
    """Availability, version and reason of every registered runtime on this device."""
    return {name: runtime_class(name).availability().to_json() for name in runtime_names()}


__all__ = ["Runtime", "RuntimeUnavailable", "canonical_name", "runtime_class", "runtime_availability",
           "runtime_names"]
