"""The FLOP/byte counter against counts worked out by hand on small graphs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.analyze import analyze_model

F = TensorProto.FLOAT


def model(nodes, inputs, outputs, inits, opset=17, extra_opsets=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)] + list(extra_opsets))
    m.ir_version = 8
    return m


def w(name, shape, dtype=np.float32):
    return numpy_helper.from_array(np.ones(shape, dtype=dtype), name)


def test_matmul_bias_relu() -> None:
    m = model([helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["a"]),
               helper.make_node("Relu", ["a"], ["y"])],
              [helper.make_tensor_value_info("x", F, [1, 128, 312])], [helper.make_tensor_value_info("y", F, None)],
              [w("W", (312, 1200)), w("b", (1200,))])
    c = analyze_model(m)
    out = 128 * 1200
    assert c.macs == 128 * 312 * 1200 == 47_923_200
    assert c.flops == 2 * 47_923_200 + out + out
    assert c.params == 312 * 1200 + 1200
    assert c.weight_bytes == (312 * 1200 + 1200) * 4
    # MatMul reads x, writes h; Add reads h, writes a; Relu reads a, writes y
    assert c.activation_bytes == 4 * (128 * 312 + out + out + out + out + out)
    assert c.unknown_ops == []


def test_conv_with_bias_and_depthwise() -> None:
    m = model([helper.make_node("Conv", ["x", "W", "B"], ["y"], pads=[1, 1, 1, 1])],
              [helper.make_tensor_value_info("x", F, [1, 3, 32, 32])], [helper.make_tensor_value_info("y", F, None)],
              [w("W", (16, 3, 3, 3)), w("B", (16,))])
    c = analyze_model(m)
    assert c.macs == 16 * 32 * 32 * 3 * 3 * 3 == 442_368
    assert c.flops == 2 * 442_368 + 16 * 32 * 32
    dw = model([helper.make_node("Conv", ["x", "W"], ["y"], group=8)],
               [helper.make_tensor_value_info("x", F, [1, 8, 10, 10])], [helper.make_tensor_value_info("y", F, None)],
               [w("W", (8, 1, 3, 3))])
    assert analyze_model(dw).macs == 8 * 8 * 8 * 9 == 4608


def test_gemm_transposed_b() -> None:
    m = model([helper.make_node("Gemm", ["a", "B", "C"], ["y"], transB=1)],
              [helper.make_tensor_value_info("a", F, [4, 64])], [helper.make_tensor_value_info("y", F, None)],
              [w("B", (32, 64)), w("C", (32,))])
    c = analyze_model(m)
    assert c.macs == 4 * 32 * 64 and c.flops == 2 * 8192 + 4 * 32


def test_fused_attention_com_microsoft() -> None:
    att = helper.make_node("Attention", ["x", "Wqkv", "bqkv"], ["y"], domain="com.microsoft", num_heads=2)
    m = model([att], [helper.make_tensor_value_info("x", F, [1, 8, 16])], [helper.make_tensor_value_info("y", F, None)],
              [w("Wqkv", (16, 48)), w("bqkv", (48,))], extra_opsets=[helper.make_opsetid("com.microsoft", 1)])
    c = analyze_model(m)
    # QKV projection 8×16×48 = 6144; QKᵀ and AV: 2 × (8×8×16) = 2048
    assert c.macs == 6144 + 2048
    assert "Attention" not in " ".join(c.unknown_ops)


def test_dynamic_int8_matmul_integer() -> None:
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "Wq", "xz", "wz"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=F),
             helper.make_node("Mul", ["accf", "xs"], ["y"])]
    m = model(nodes, [helper.make_tensor_value_info("x", F, [1, 4, 8])], [helper.make_tensor_value_info("y", F, None)],
              [w("Wq", (8, 2), np.int8), numpy_helper.from_array(np.array(0, dtype=np.int8), "wz")])
    c = analyze_model(m)
    assert c.macs == 4 * 8 * 2
    assert c.weight_bytes == 8 * 2 * 1 + 1  # int8 weights: one byte each
    assert c.per_op_type["DynamicQuantizeLinear"]["flops"] == 5 * 32
    assert c.unknown_ops == []


def test_unknown_op_is_listed_not_silently_zero() -> None:
    m = model([helper.make_node("FooBar", ["x"], ["y"], domain="com.example")],
              [helper.make_tensor_value_info("x", F, [2, 2])], [helper.make_tensor_value_info("y", F, [2, 2])], [],
              extra_opsets=[helper.make_opsetid("com.example", 1)])
    assert analyze_model(m).unknown_ops == ["FooBar"]


@pytest.mark.slow
def test_cli_on_a_zoo_model_matches_published_compute(zoo_default) -> None:
    proc = subprocess.run([sys.executable, "-m", "models", "analyze", zoo_default["onnx-fp32"].path, "--json"],
                          capture_output=True, text=True, cwd=str(Path(__file__).resolve().parents[2]))
    out = json.loads(proc.stdout)
    assert set(out) == {"params", "macs", "flops", "weight_bytes", "activation_bytes", "unknown_ops"}
    # TinyBERT-4 at seq 128: 1.2 GFLOPs published (2 × 0.6 GMACs)
    assert 0.58e9 < out["macs"] < 0.66e9 and out["unknown_ops"] == []
    assert out["weight_bytes"] == pytest.approx(4 * out["params"], rel=0.01)


def test_an_int8_copy_counts_the_same_parameters_as_its_fp32_model(tmp_path) -> None:
    """Issue 25: the same model sat at opposite edges of the bandwidth plot because its INT8 copy counted its
    quantisation scales and zero points as parameters (14,372,961 against 14,350,251)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from models.analyze import analyze_file

    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for k in range(3):
        inits.append(numpy_helper.from_array(rng.standard_normal((64, 64)).astype(np.float32), "w%d" % k))
        nodes.append(helper.make_node("MatMul", [prev, "w%d" % k], ["h%d" % k]))
        prev = "h%d" % k
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 64])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(model, str(fp32))
    for per_channel in (False, True):
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=per_channel)
        assert analyze_file(str(int8)).params == analyze_file(str(fp32)).params == 3 * 64 * 64
