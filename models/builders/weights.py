"""Representative random weights: no dead branches for a converter to fold away."""

from __future__ import annotations

from typing import Any


def randomise_(module: Any, seed: int) -> None:
    """Re-initialise every parameter in place with a fixed seed.

    Matrices get N(0, 0.02) (BERT's init), normalisation scales U(0.8, 1.2) and biases N(0, 0.02), so
    that no weight is zero: a zero norm scale or an all-zero logit makes converters constant-fold
    whole branches, and the timing then lies.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            elif leaf == "weight":  # norm scales (LayerNorm, BatchNorm, NoNorm)
                p.copy_(0.8 + 0.4 * torch.rand(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
