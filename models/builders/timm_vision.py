"""Image classifiers from ``timm`` by architecture name (EfficientFormer-L1, MobileNetV2), random weights.

timm imports torchvision at module level; where no torchvision is importable, the zoo puts its
stand-in (``torchvision_standin/``) on the path for the duration of the import only."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from . import Built
from .weights import randomise_

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchvision_standin")


def import_timm() -> Any:
    try:
        import torchvision  # noqa: F401
    except ImportError:
        sys.path.insert(0, STANDIN)
        try:
            return importlib.import_module("timm")
        finally:
            sys.path.remove(STANDIN)
    return importlib.import_module("timm")


def build(entry: Any, seed: int) -> Built:
    import torch

    timm = import_timm()
    cfg = dict(entry.config)
    size = int(cfg.pop("image_size", 224))
    torch.manual_seed(seed)
    model = timm.create_model(cfg.pop("arch"), pretrained=False, **cfg)
    randomise_(model, seed)

    class Classifier(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values: Any) -> Any:
            return self.inner(pixel_values)

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 3, size, size, generator=gen)
    return Built(Classifier(model).eval(), {"pixel_values": x}, ["logits"])
