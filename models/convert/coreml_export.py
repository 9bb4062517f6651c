"""PyTorch -> Core ML ``.mlpackage`` (mlprogram: FP32, FP16; INT8 weights by linear quantisation).

The package (a directory) is stored zipped as one file, ``model.mlpackage.zip``, so it is hashed,
cached and pushed like any other artifact. Conversion works on Linux; running needs macOS/iOS.
transformers 5's BERT uses ``new_ones`` (with a bool dtype) and Python ``&``/``|`` on tensors, which
coremltools 9 lacks: the converters registered here build them from ``fill``/``const``/``logical_*``.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any


def _register_missing_ops() -> None:
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY, register_torch_op

    from coremltools.converters.mil.mil import types

    if "new_ones" in _TORCH_OPS_REGISTRY:
        return

    def logical(op: str) -> Any:
        def convert(context: Any, node: Any) -> None:
            x, y = _get_inputs(context, node, expected=2)
            x, y = (v if v.dtype == types.bool else mb.cast(x=v, dtype="bool") for v in (x, y))
            context.add(getattr(mb, op)(x=x, y=y, name=node.name))
        return convert

    for kind, op in (("__and__", "logical_and"), ("__or__", "logical_or")):
        if kind not in _TORCH_OPS_REGISTRY:
            _TORCH_OPS_REGISTRY.set_func_by_name(logical(op), kind)

    @register_torch_op
    def new_ones(context: Any, node: Any) -> None:
        inputs = _get_inputs(context, node)
        shape = inputs[1]
        if isinstance(shape, list):
            shape = mb.concat(values=shape, axis=0) if shape else None
        kw = getattr(node, "kwinputs", None) or {}
        as_bool = tuple(kw.get("dtype", ())) == (11,)  # torch.bool
        if shape is None or (shape.val is not None and np.size(shape.val) == 0):
            context.add(mb.const(val=np.bool_(True) if as_bool else np.float32(1.0), name=node.name))
            return
        ones = mb.fill(shape=mb.cast(x=shape, dtype="int32"), value=1.0,
                       name=node.name + "_f" if as_bool else node.name)
        context.add(mb.cast(x=ones, dtype="bool", name=node.name) if as_bool else ones)


def _zip_package(package: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(package.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(package.parent).as_posix())


def _convert(built: Any, out: Path, precision: str) -> None:
    import coremltools as ct
    import torch

    _register_missing_ops()
    exported = torch.export.export(built.module, (), built.example_kwargs).run_decompositions({})
    model = ct.convert(exported, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17,
                       compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32)
    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / "model.mlpackage"
        model.save(str(pkg))
        _zip_package(pkg, out)


def export_fp32(built: Any, out: Path, entry: Any = None) -> None:
    _convert(built, out, "fp32")


def export_fp16(built: Any, out: Path, entry: Any = None) -> None:
    _convert(built, out, "fp16")


def int8_weights(parent: Path, out: Path, entry: Any = None) -> None:
    """Per-channel symmetric INT8 weights (linear quantisation), compute as the FP32 model."""
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(parent) as zf:
            zf.extractall(tmp)
        model = ct.models.MLModel(str(Path(tmp) / "model.mlpackage"), skip_model_load=True)
        cfg = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity="per_channel"))
        quantized = cto.linear_quantize_weights(model, cfg)
        pkg = Path(tmp) / "q" / "model.mlpackage"
        quantized.save(str(pkg))
        _zip_package(pkg, out)
        shutil.rmtree(Path(tmp) / "q", ignore_errors=True)


def load_for_check(path: Path) -> Any:
    """Open a zipped package in coremltools without compiling it (works on Linux)."""
    import coremltools as ct

    tmp = tempfile.mkdtemp(prefix="edgebench-coreml-")
    with zipfile.ZipFile(path) as zf:
        zf.extractall(tmp)
    return ct.models.MLModel(str(Path(tmp) / "model.mlpackage"), skip_model_load=True)
