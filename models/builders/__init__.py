"""Builders: a zoo entry -> a PyTorch module plus example inputs, with representative random weights."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Dict

_FAMILIES = {"bert": "hf_text", "distilbert": "hf_text", "mobilebert": "hf_text"}


@dataclass
class Built:
    """A PyTorch module ready for export and the keyword inputs it is traced with."""

    module: Any
    example_kwargs: Dict[str, Any]
    output_names: list


def build(entry: Any, seed: int = 0) -> Built:
    if entry.family not in _FAMILIES:
        raise KeyError("no builder for family %r (known: %s)" % (entry.family, ", ".join(sorted(_FAMILIES))))
    module = importlib.import_module("models.builders." + _FAMILIES[entry.family])
    return module.build(entry, seed)
