"""PyTorch -> ONNX (fp32) with the dynamo exporter, weights inside the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def export(built: Any, out: Path, entry: Any = None) -> None:
    import torch

    torch.onnx.export(built.module, args=(), kwargs=built.example_kwargs, f=str(out),
                      input_names=list(built.example_kwargs), output_names=list(built.output_names),
                      dynamo=True, external_data=False)
