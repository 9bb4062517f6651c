"""The models a GPU's ceilings are measured with: a matrix product and an element-wise add whose operands
are all graph inputs with dynamic dimensions (no weights in the file), so the agent sizes them to the
GPU's memory (an 8192³ product on a data-centre GPU, 4096³ on a Jetson) and keeps them resident."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

from .cache import cache_root, sha256_file

#: (kind, precision, file) measured per GPU provider.
SPECS = (("matmul", "fp32", "gpu_matmul_fp32.onnx"), ("matmul", "fp16", "gpu_matmul_fp16.onnx"),
         ("add", "fp32", "gpu_add_fp32.onnx"))


def _model(path: Path, kind: str, precision: str) -> None:
    import onnx
    from onnx import TensorProto, helper

    tp = TensorProto.FLOAT16 if precision == "fp16" else TensorProto.FLOAT
    if kind == "matmul":
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        ins = [helper.make_tensor_value_info("a", tp, ["m", "k"]), helper.make_tensor_value_info("b", tp, ["k", "n"])]
        outs = [helper.make_tensor_value_info("y", tp, ["m", "n"])]
    else:
        node = helper.make_node("Add", ["a", "b"], ["y"])
        ins = [helper.make_tensor_value_info("a", tp, ["e"]), helper.make_tensor_value_info("b", tp, ["e"])]
        outs = [helper.make_tensor_value_info("y", tp, ["e"])]
    model = helper.make_model(helper.make_graph([node], "%s_%s" % (kind, precision), ins, outs),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build_gpu_microbench_models(providers: List[str]) -> List[Dict[str, Any]]:
    """One item per (GPU provider, kind, precision) for the agent's ``gpu`` microbenchmarks (cached)."""
    root = cache_root() / "microbench" / "gpu"
    root.mkdir(parents=True, exist_ok=True)
    items: List[Dict[str, Any]] = []
    for kind, precision, name in SPECS:
        path = root / name
        if not path.exists():
            _model(path, kind, precision)
        for provider in providers:
            items.append({"kind": kind, "precision": precision, "runtime": "onnxruntime", "provider": provider,
                          "unit": "gpu", "path": str(path), "sha256": sha256_file(path)})
    (root / "index.json").write_text(json.dumps(items, indent=1))
    return items
