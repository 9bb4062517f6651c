"""LiteRT quantisation with ``ai-edge-quantizer`` recipes: fp16 weights, dynamic-range INT8, full INT8.

Full-INT8 files keep int32 token inputs but have int8 outputs; the agent dequantises them."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, Dict, List


def _quantize(parent: Path, out: Path, recipe: Any, calibration: Any = None) -> None:
    from ai_edge_quantizer import quantizer

    qt = quantizer.Quantizer(str(parent), recipe)
    with contextlib.redirect_stderr(io.StringIO()):
        result = qt.calibrate(calibration) if qt.need_calibration else None
        qt.quantize(result, enable_progress_report=False).export_model(str(out), overwrite=True)


def fp16_weights(parent: Path, out: Path, entry: Any = None) -> None:
    from ai_edge_quantizer import recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    rm = recipe_manager.RecipeManager()
    rm.add_weight_only_config(".*", TFLOperationName.ALL_SUPPORTED, 16, algorithm_key=AlgorithmName.FLOAT_CASTING)
    _quantize(parent, out, rm.get_quantization_recipe())


def dynamic_int8(parent: Path, out: Path, entry: Any = None) -> None:
    from ai_edge_quantizer import recipe

    _quantize(parent, out, recipe.dynamic_wi8_afp32())


def _signature_feeds(parent: Path, entry: Any) -> Dict[str, List[Dict[str, Any]]]:
    """Calibration feeds keyed by the TFLite signature's own input names and dtypes."""
    from ai_edge_litert.interpreter import Interpreter

    from ..calibration import feeds_for

    interp = Interpreter(model_path=str(parent))
    sig_key, sig = next(iter(interp.get_signature_list().items()))
    runner = interp.get_signature_runner(sig_key)
    details = runner.get_input_details()
    feeds = []
    for f in feeds_for(entry):
        feeds.append({name: f[name].astype(details[name]["dtype"]) for name in sig["inputs"] if name in f})
    return {sig_key: feeds}


def static_int8(parent: Path, out: Path, entry: Any) -> None:
    from ai_edge_quantizer import recipe

    _quantize(parent, out, recipe.static_wi8_ai8(), _signature_feeds(parent, entry))
