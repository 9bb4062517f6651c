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


#: Largest |value| a module's output (and the reference output) may reach with representative weights.
#: Trained models stay far below it: real all-MiniLM-L6-v2 peaks at 162 in its FFN outputs, BERT-style
#: LayerNorm outputs at ~6, the zoo's vision models at ~30; random MobileBERT without calibration
#: reached 1.2e12 (its NoNorm layers do not normalise, so every residual add doubles the variance).
ACTIVATION_MAX_ABS = 1e3


def calibrate_unnormalised_(module: Any, example_kwargs: Any, target_std: float = 1.0) -> int:
    """Rescale the scale of every un-normalising "norm" layer (MobileBERT's ``NoNorm``: x·w + b) so that
    its output has ``target_std`` on the example inputs, as the LayerNorm it replaces would give and as
    training leaves it. One forward pass, layer by layer in execution order (each rescaled layer feeds
    the next its calibrated output), like LSUV initialisation. Returns how many layers were rescaled."""
    import torch

    layers = [m for m in module.modules() if type(m).__name__ == "NoNorm" and hasattr(m, "weight")]
    if not layers:
        return 0

    def pre_hook(layer: Any, inputs: Any) -> None:
        std = float(inputs[0].detach().float().std())
        if std > 0 and torch.isfinite(torch.tensor(std)):
            layer.weight.mul_(target_std / std)
            layer.bias.mul_(target_std / std)

    handles = [m.register_forward_pre_hook(pre_hook) for m in layers]
    try:
        with torch.no_grad():
            module(**example_kwargs)
    finally:
        for h in handles:
            h.remove()
    return len(layers)


class UnrepresentativeModel(ValueError):
    """A built model's reference output is non-finite or beyond ACTIVATION_MAX_ABS: its weights do not
    describe a model anyone ships, so its timings and fidelity would not either."""


def check_reference(module: Any, example_kwargs: Any, name: str, limit: float = ACTIVATION_MAX_ABS) -> float:
    """Run the module on its example inputs; raise UnrepresentativeModel when an output is non-finite or
    larger than ``limit`` in magnitude. Returns the largest |output|."""
    import torch

    with torch.no_grad():
        out = module(**example_kwargs)
    if isinstance(out, dict):  # transformers' ModelOutput
        outs = list(out.values())
    else:
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
    worst = 0.0
    for o in outs:
        if not torch.is_tensor(o) or not o.is_floating_point():
            continue
        if not bool(torch.isfinite(o).all()):
            raise UnrepresentativeModel("%s: the reference output holds NaN/inf with its representative weights; "
                                        "refusing to build a model nobody ships" % name)
        worst = max(worst, float(o.abs().max()))
    if worst > limit:
        raise UnrepresentativeModel("%s: the reference output reaches |%.3g|, beyond the %.0g a trained model of this "
                                    "kind produces: its random weights blew up (see models/builders/weights.py); "
                                    "refusing to build it" % (name, worst, limit))
    return worst
