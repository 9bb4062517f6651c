"""PyTorch -> TFLite (fp32) with ``litert-torch``; signature inputs keep the PyTorch keyword names."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def export(built: Any, out: Path, entry: Any = None) -> None:
    import litert_torch

    converted = litert_torch.convert(built.module, sample_args=(), sample_kwargs=built.example_kwargs)
    converted.export(str(out))
