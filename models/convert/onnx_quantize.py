"""ONNX Runtime quantisation recipes."""

from __future__ import annotations

from pathlib import Path


def dynamic_int8_per_channel(parent: Path, out: Path) -> None:
    """Dynamic INT8 (weights per channel, activations quantised at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(parent), str(out), per_channel=True, weight_type=QuantType.QInt8)
