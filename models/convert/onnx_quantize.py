"""ONNX Runtime precision recipes: fp16, dynamic INT8 per channel, static INT8 QDQ with a calibration
set, and a mixed static INT8 that keeps the numerically sensitive ops in fp32."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

#: Only these are quantised in the mixed variant; Softmax, LayerNorm, GELU, Add, Gather stay fp32.
MIXED_OP_TYPES = ["MatMul", "Gemm", "Conv"]


def fp16(parent: Path, out: Path, entry: Any = None) -> None:
    """Weights and compute in fp16, inputs and outputs kept in their original types."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(parent)), keep_io_types=True)
    onnx.save(model, str(out))


def dynamic_int8_per_channel(parent: Path, out: Path, entry: Any = None) -> None:
    """Dynamic INT8 (weights per channel, activations quantised at run time).

    The exporter's stored intermediate shapes (value_info) are dropped first: for the vision models
    they disagree with onnxruntime's own shape inference at the classifier, which then refuses the graph.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(parent))
    del model.graph.value_info[:]
    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp) / "clean.onnx"
        onnx.save(model, str(clean))
        quantize_dynamic(str(clean), str(out), per_channel=True, weight_type=QuantType.QInt8)


class _Reader:
    """Calibration feeds for onnxruntime.quantization (CalibrationDataReader protocol)."""

    def __init__(self, feeds: List[Dict[str, Any]], names: List[str]) -> None:
        self._it: Iterator[Dict[str, Any]] = iter([{k: v for k, v in f.items() if k in names} for f in feeds])

    def get_next(self) -> Optional[Dict[str, Any]]:
        return next(self._it, None)


def _static(parent: Path, out: Path, entry: Any, op_types: Optional[List[str]]) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..calibration import feeds_for

    class Reader(_Reader, CalibrationDataReader):
        pass

    names = [i.name for i in onnx.load(str(parent), load_external_data=False).graph.input]
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(parent), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), Reader(feeds_for(entry), names), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=op_types)


def static_int8_qdq(parent: Path, out: Path, entry: Any) -> None:
    """Full static INT8 (QDQ), activations calibrated on the shipped inputs (min/max)."""
    _static(parent, out, entry, None)


def static_int8_qdq_mixed(parent: Path, out: Path, entry: Any) -> None:
    """Static INT8 on the matrix products and convolutions only; sensitive ops stay fp32."""
    _static(parent, out, entry, MIXED_OP_TYPES)
