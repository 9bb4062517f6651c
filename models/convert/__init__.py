"""Converters: one recipe each, from a built PyTorch module or a parent artifact to a model file.

Every converter is ``convert(source, out, entry)``: ``source`` is the Built PyTorch module when the
recipe has no parent variant, else the parent artifact's path."""

from __future__ import annotations

import importlib
from typing import Callable, Dict, Optional, Tuple

#: recipe name -> (module, function, the variant it starts from or None for the PyTorch module)
RECIPES: Dict[str, Tuple[str, str, Optional[str]]] = {
    "export": ("models.convert.onnx_export", "export", None),
    "ort-fp16": ("models.convert.onnx_quantize", "fp16", "onnx-fp32"),
    "ort-dynamic-int8-per-channel": ("models.convert.onnx_quantize", "dynamic_int8_per_channel", "onnx-fp32"),
    "ort-static-int8-qdq": ("models.convert.onnx_quantize", "static_int8_qdq", "onnx-fp32"),
    "ort-static-int8-qdq-mixed": ("models.convert.onnx_quantize", "static_int8_qdq_mixed", "onnx-fp32"),
    "litert-torch": ("models.convert.tflite_export", "export", None),
    "aeq-fp16-weights": ("models.convert.tflite_quantize", "fp16_weights", "tflite-fp32"),
    "aeq-dynamic-int8": ("models.convert.tflite_quantize", "dynamic_int8", "tflite-fp32"),
    "aeq-static-int8": ("models.convert.tflite_quantize", "static_int8", "tflite-fp32"),
    "coreml-fp32": ("models.convert.coreml_export", "export_fp32", None),
    "coreml-fp16": ("models.convert.coreml_export", "export_fp16", None),
    "coreml-int8-weights": ("models.convert.coreml_export", "int8_weights", "coreml-fp32"),
    "torch-export": ("models.convert.torch_export", "export", None),
    "executorch-xnnpack": ("models.convert.executorch_export", "export_xnnpack", None),
    "executorch-coreml": ("models.convert.executorch_export", "export_coreml", None),
    # TensorRT engines are built on the device (per GPU and TensorRT version) from these ONNX files
    "tensorrt-onnx-fp32": ("models.convert.same_file", "link", "onnx-fp32"),
    "tensorrt-onnx-qdq": ("models.convert.same_file", "link", "onnx-int8-static"),
}


def recipe(name: str) -> Tuple[Callable, Optional[str]]:
    """The conversion function of recipe ``name`` and the variant it needs first (if any)."""
    if name not in RECIPES:
        raise KeyError("unknown recipe %r (known: %s)" % (name, ", ".join(sorted(RECIPES))))
    module, func, parent = RECIPES[name]
    return getattr(importlib.import_module(module), func), parent
