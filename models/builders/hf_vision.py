"""MobileViT (v1) image classifiers from ``transformers`` configs."""

from __future__ import annotations

from typing import Any

from . import Built
from .weights import randomise_


def build(entry: Any, seed: int) -> Built:
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    cfg = dict(entry.config)
    size = int(cfg.get("image_size", 256))
    model = tf.MobileViTForImageClassification(tf.MobileViTConfig(**cfg))
    randomise_(model, seed)  # HF's init gives all-zero logits: converters would fold the classifier away

    class Classifier(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values: Any) -> Any:
            return self.inner(pixel_values=pixel_values).logits

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 3, size, size, generator=gen)
    return Built(Classifier(model).eval(), {"pixel_values": x}, ["logits"])
