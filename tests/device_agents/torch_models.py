"""Small real PyTorch models for the torch-family runtime tests, exported by the real converters."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_built(seed: int = 0) -> Any:
    """A token-embedding + MLP encoder with the zoo's keyword inputs (input_ids, attention_mask)."""
    import torch

    from models.builders import Built

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(100, 32)
            self.mlp = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 32))

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            h = self.emb(input_ids) * attention_mask.unsqueeze(-1).to(torch.float32)
            h = self.mlp(h)
            return h, h.mean(dim=1)

    torch.manual_seed(seed)
    module = Tiny().eval()
    kwargs = {"input_ids": torch.randint(0, 100, (1, 16)), "attention_mask": torch.ones(1, 16, dtype=torch.int64)}
    return Built(module=module, example_kwargs=kwargs, output_names=["hidden", "pooled"])


def export_pt2(out: Path) -> Any:
    from models.convert.torch_export import export

    built = tiny_built()
    export(built, out)
    return built
