"""Converters: one recipe each, from a built PyTorch module (or another artifact) to a model file."""

from __future__ import annotations

import importlib
from typing import Callable, Dict, Optional, Tuple

#: recipe name -> (module, function, the variant it starts from or None for the PyTorch module)
RECIPES: Dict[str, Tuple[str, str, Optional[str]]] = {
    "export": ("models.convert.onnx_export", "export", None),
    "ort-dynamic-int8-per-channel": ("models.convert.onnx_quantize", "dynamic_int8_per_channel", "onnx-fp32"),
    "litert-torch": ("models.convert.tflite_export", "export", None),
}


def recipe(name: str) -> Tuple[Callable, Optional[str]]:
    """The conversion function of recipe ``name`` and the variant it needs first (if any)."""
    if name not in RECIPES:
        raise KeyError("unknown recipe %r (known: %s)" % (name, ", ".join(sorted(RECIPES))))
    module, func, parent = RECIPES[name]
    return getattr(importlib.import_module(module), func), parent
