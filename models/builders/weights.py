"""Representative random weights: no dead branches for a converter to fold away."""

from __future__ import annotations

import math
from typing import Any


def randomise_(module: Any, seed: int) -> None:
    """Re-initialise every parameter and normalisation buffer in place with a fixed seed.

    Matrices and kernels get N(0, 1/fan_in) (activations keep their scale through depth),
    normalisation scales U(0.8, 1.2), biases N(0, 0.02), BatchNorm running statistics plausible
    non-trivial values. No weight is zero: a zero norm scale or an all-zero classifier makes
    converters constant-fold whole branches, and the timing then lies.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if p.dim() >= 2:
                fan_in = max(1, int(math.prod(p.shape[1:])))
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
            elif leaf in ("weight", "gamma", "scale"):
                p.copy_(0.8 + 0.4 * torch.rand(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        for name, b in module.named_buffers():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "running_mean":
                b.copy_(torch.randn(b.shape, generator=gen) * 0.1)
            elif leaf == "running_var":
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))
