"""The models the device microbenchmarks run: one large matrix product per precision, per runtime.

ONNX: MatMul fp32, MatMul fp16, MatMulInteger (uint8 × int8 → int32). TFLite: a fully connected
fp32 layer (litert-torch). Each entry records the operations one run performs (2·M·N·K)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

from .cache import cache_root, sha256_file

SIZE = 1024  # M = N = K


def _onnx_matmul(path: Path, kind: str, n: int) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if kind == "int8":
        w = numpy_helper.from_array(rng.integers(-127, 127, (n, n), dtype=np.int8), "W")
        nodes = [helper.make_node("MatMulInteger", ["x", "W"], ["y"])]
        x = helper.make_tensor_value_info("x", TensorProto.UINT8, [n, n])
        y = helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])
    else:
        dt, tp = (np.float16, TensorProto.FLOAT16) if kind == "fp16" else (np.float32, TensorProto.FLOAT)
        w = numpy_helper.from_array(rng.standard_normal((n, n)).astype(dt), "W")
        nodes = [helper.make_node("MatMul", ["x", "W"], ["y"])]
        x = helper.make_tensor_value_info("x", tp, [n, n])
        y = helper.make_tensor_value_info("y", tp, [n, n])
    model = helper.make_model(helper.make_graph(nodes, "matmul_" + kind, [x], [y], initializer=[w]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _tflite_matmul(path: Path, n: int) -> None:
    import litert_torch
    import torch

    lin = torch.nn.Linear(n, n, bias=False).eval()
    litert_torch.convert(lin, (torch.randn(n, n),)).export(str(path))


def _tflite_int8(fp32: Path, path: Path, n: int) -> None:
    """Full-INT8 (int8 weights and activations) of the fp32 product, calibrated on N(0,1) inputs."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import recipe

    from .convert.tflite_quantize import _quantize

    key, sig = next(iter(Interpreter(model_path=str(fp32)).get_signature_list().items()))
    rng = np.random.default_rng(0)
    feeds = [{name: rng.standard_normal((n, n)).astype(np.float32) for name in sig["inputs"]} for _ in range(4)]
    _quantize(fp32, path, recipe.static_wi8_ai8(), {key: feeds})


def build_microbench_models(n: int = SIZE) -> List[Dict[str, Any]]:
    """Build (once, cached) and describe the microbenchmark models."""
    root = cache_root() / "microbench" / ("n%d" % n)
    root.mkdir(parents=True, exist_ok=True)
    specs = [("onnxruntime", "fp32", "matmul_fp32.onnx"), ("onnxruntime", "fp16", "matmul_fp16.onnx"),
             ("onnxruntime", "int8", "matmul_int8.onnx"), ("litert", "fp32", "matmul_fp32.tflite"),
             ("litert", "int8", "matmul_int8.tflite")]
    out = []
    for runtime, precision, name in specs:
        path = root / name
        entry: Dict[str, Any] = {"runtime": runtime, "precision": precision, "ops_per_run": 2 * n * n * n,
                                 "shape": [n, n, n], "path": str(path)}
        if not path.exists():
            try:
                if name.endswith(".onnx"):
                    _onnx_matmul(path, precision, n)
                else:
                    from .build import _quiet

                    with _quiet(root / "build.log"):
                        if precision == "int8":
                            _tflite_int8(root / "matmul_fp32.tflite", path, n)
                        else:
                            _tflite_matmul(path, n)
            except Exception as exc:
                entry.update(path=None, error="%s: %s" % (type(exc).__name__, str(exc)[:300]))
                out.append(entry)
                continue
        entry["sha256"] = sha256_file(path)
        out.append(entry)
    (root / "index.json").write_text(json.dumps(out, indent=1))
    return out
