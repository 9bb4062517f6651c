"""Operation and byte counts of an ONNX graph, per operator.

MACs come from the shapes of each compute node (MatMul/Gemm/Conv and their quantised and fused
com.microsoft forms); element-wise and normalisation ops add FLOPs per output element; FLOPs =
2 × MACs + element-wise FLOPs. Bytes: ``weight_bytes`` = every initializer read by a node, once;
``activation_bytes`` = non-initializer tensors read plus tensors written, per node (view ops that move
no data — Reshape, Squeeze, … — count zero). An operator the counter does not know is listed in
``unknown_ops``, never silently counted as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

#: FLOPs per output element of element-wise / reduction-style ops (approximate op counts).
ELEMENTWISE_FLOPS = {
    "Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Pow": 1, "Sqrt": 1, "Reciprocal": 1, "Neg": 1, "Abs": 1,
    "Max": 1, "Min": 1, "Relu": 1, "LeakyRelu": 2, "PRelu": 2, "Clip": 2, "Sigmoid": 4, "HardSigmoid": 3,
    "HardSwish": 4, "Tanh": 5, "Erf": 5, "Exp": 4, "Log": 4, "Sin": 4, "Cos": 4, "Gelu": 8, "Softmax": 5,
    "LogSoftmax": 6, "Where": 1, "Equal": 1, "Less": 1, "Greater": 1, "Not": 1, "And": 1, "Or": 1, "IsNaN": 1,
    "Mish": 6, "Softplus": 4, "Elu": 4, "Selu": 4, "Round": 1, "Floor": 1, "Ceil": 1, "Sign": 1,
    "LayerNormalization": 8, "BatchNormalization": 4, "InstanceNormalization": 8, "GroupNormalization": 8,
    "SimplifiedLayerNormalization": 6, "ReduceMean": 1, "ReduceSum": 1, "ReduceMax": 1, "ReduceL2": 2,
    "GlobalAveragePool": 1, "AveragePool": 1, "MaxPool": 1, "GlobalMaxPool": 1, "Cast": 0, "CumSum": 1,
    "QuantizeLinear": 3, "DequantizeLinear": 2, "DynamicQuantizeLinear": 5, "Resize": 4, "Mod": 1,
    # com.microsoft fused element-wise ops
    "BiasGelu": 9, "FastGelu": 8, "QuickGelu": 5, "BiasAdd": 2, "SkipLayerNormalization": 10,
    "SkipSimplifiedLayerNormalization": 8, "BiasSoftmax": 6, "QLinearAdd": 3, "QLinearMul": 3,
    "QLinearSigmoid": 5, "QLinearLeakyRelu": 3, "QLinearGlobalAveragePool": 2, "QLinearAveragePool": 2,
    "BiasSplitGelu": 9, "NhwcMaxPool": 1,
}
#: Ops that move data (bytes counted) but compute nothing.
DATA_OPS = {"Transpose", "Gather", "GatherElements", "GatherND", "Concat", "Slice", "Split", "Expand", "Tile", "Pad",
            "ScatterND", "ScatterElements", "DepthToSpace", "SpaceToDepth", "OneHot", "Range", "ConstantOfShape",
            "TopK", "NonZero", "Trilu", "EmbedLayerNormalization"}
#: Ops that are views or metadata: no data moved in an optimised runtime.
VIEW_OPS = {"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Shape", "Constant", "Size", "Dropout"}
MATMUL_OPS = {"MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul", "MatMulIntegerToFloat",
              "DynamicQuantizeMatMul", "MatMulNBits", "QOrderedMatMul", "MatMulFpQ4"}
CONV_OPS = {"Conv", "ConvInteger", "QLinearConv", "FusedConv", "NhwcConv", "ConvTranspose"}
GEMM_OPS = {"Gemm", "FusedGemm", "QGemm"}
ATTENTION_OPS = {"Attention", "QAttention", "MultiHeadAttention"}
_DTYPE_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}
_PARAM_DTYPES = {1, 2, 3, 10, 11, 16}  # float, uint8, int8, float16, double, bfloat16
#: Inputs that are quantisation scales or zero points, by operator (positions): they are not parameters, so an
#: INT8 copy of a model counts the same parameters as its FP32 original.
_QUANT_INPUTS = {"QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2), "MatMulInteger": (2, 3),
                 "ConvInteger": (2, 3), "QLinearMatMul": (1, 2, 4, 5, 6, 7), "QLinearConv": (1, 2, 4, 5, 6, 7),
                 "DynamicQuantizeMatMul": (2, 3), "MatMulIntegerToFloat": (2, 3, 4, 5), "QAttention": (3, 4, 6, 7),
                 "QLinearAdd": (1, 2, 4, 5, 6, 7), "QLinearMul": (1, 2, 4, 5, 6, 7)}


def quantisation_constants(graph: Any) -> set:
    """Names of the initializers a graph uses as quantisation scales or zero points: the inputs in those positions
    of quantised operators (when nothing else uses them), and ONNX Runtime's ``<w>_scale`` / ``<w>_zero_point``
    beside a ``<w>_quantized`` weight (a per-channel scale is applied by a Mul after MatMulInteger, so its consumer
    does not tell)."""
    names = {i.name for i in graph.initializer}
    named = {n for n in names for suffix in ("_scale", "_zero_point")
             if n.endswith(suffix) and n[:-len(suffix)] + "_quantized" in names}
    quant, other = set(), set()
    for node in graph.node:
        positions = _QUANT_INPUTS.get(node.op_type, ())
        for k, name in enumerate(node.input):
            (quant if k in positions else other).add(name)
    return (quant - other) | named


@dataclass
class Counts:
    params: int = 0
    macs: int = 0
    flops: int = 0
    weight_bytes: int = 0
    activation_bytes: int = 0
    unknown_ops: List[str] = field(default_factory=list)
    per_op_type: Dict[str, Dict[str, int]] = field(default_factory=dict)
    nodes: List[Dict[str, Any]] = field(default_factory=list)

    def to_json(self, per_node: bool = False) -> Dict[str, Any]:
        out: Dict[str, Any] = {"params": self.params, "macs": self.macs, "flops": self.flops,
                               "weight_bytes": self.weight_bytes, "activation_bytes": self.activation_bytes,
                               "unknown_ops": sorted(set(self.unknown_ops)), "per_op_type": self.per_op_type}
        if per_node:
            out["nodes"] = self.nodes
        return out


class AnalyzeError(ValueError):
    pass


def _fix_dynamic_inputs(model: Any, batch: int, seq_len: int) -> None:
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        for pos, d in enumerate(dims):
            if d.dim_value <= 0:
                d.dim_value = batch if pos == 0 else seq_len


def _infer(model: Any) -> Any:
    import onnx

    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        return SymbolicShapeInference.infer_shapes(model, auto_merge=True, guess_output_rank=True)
    except Exception:
        return onnx.shape_inference.infer_shapes(model)


def _shapes(model: Any) -> Dict[str, tuple]:
    shapes: Dict[str, tuple] = {}
    vis = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
    for vi in vis:
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        dims = tuple(d.dim_value if d.dim_value > 0 else None for d in t.shape.dim)
        shapes[vi.name] = (dims, t.elem_type)
    for init in model.graph.initializer:
        shapes[init.name] = (tuple(init.dims), init.data_type)
    return shapes


def _numel(dims: Optional[Sequence[Optional[int]]]) -> Optional[int]:
    if dims is None or any(d is None for d in dims):
        return None
    return int(math.prod(dims)) if dims else 1


def _attr(node: Any, name: str, default: Any = None) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _node_macs(node: Any, shape: Any) -> Optional[int]:
    """MACs of one compute node, or None when its shapes are unknown."""
    op = node.op_type
    if op in MATMUL_OPS:
        a = shape(node.input[0])
        out = shape(node.output[0])
        if a is None or out is None or len(a) < 1:
            return None
        k = a[-1]
        n_out = _numel(out)
        return None if k is None or n_out is None else n_out * k
    if op in GEMM_OPS:
        a = shape(node.input[0]) if op != "QGemm" else shape(node.input[0])
        out = shape(node.output[0])
        if a is None or out is None:
            return None
        k = a[0] if _attr(node, "transA", 0) else a[-1]
        n_out = _numel(out)
        return None if k is None or n_out is None else n_out * k
    if op in CONV_OPS:
        w_index = 3 if op == "QLinearConv" else 1
        w = shape(node.input[w_index])
        out = shape(node.output[0])
        if w is None or out is None:
            return None
        n_out = _numel(out)
        if op == "ConvTranspose":
            x = shape(node.input[0])
            if x is None or _numel(x) is None:
                return None
            return _numel(x) * (_numel(w[1:]) or 0)  # each input element × (Cout/groups) × kH × kW
        per_out = _numel(w[1:])  # (Cin/groups) × kH × kW
        return None if n_out is None or per_out is None else n_out * per_out
    if op in ATTENTION_OPS:
        return _attention_macs(node, shape)
    return None


def _attention_macs(node: Any, shape: Any) -> Optional[int]:
    """com.microsoft Attention/QAttention: QKV projection + QKᵀ + AV; MultiHeadAttention: QKᵀ + AV."""
    x = shape(node.input[0])
    if x is None or len(x) != 3 or any(d is None for d in x):
        return None
    b, s, h_in = x
    if node.op_type == "MultiHeadAttention":
        k = shape(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        kv_len = k[1] if k is not None and len(k) == 3 and k[1] else s
        hidden = h_in
        return 2 * b * s * kv_len * hidden
    w = shape(node.input[1])
    if w is None or len(w) != 2 or w[1] is None:
        return None
    qkv_hidden = w[1]
    hidden = qkv_hidden // 3
    return b * s * h_in * qkv_hidden + 2 * b * s * s * hidden


def analyze_model(model: Any, batch: int = 1, seq_len: int = 128) -> Counts:
    """Counts for an in-memory ONNX ModelProto."""
    import copy

    model = copy.deepcopy(model)
    _fix_dynamic_inputs(model, batch, seq_len)
    inferred = _infer(model)
    shapes = _shapes(inferred)
    inits = {i.name: i for i in inferred.graph.initializer}
    for node in inferred.graph.node:  # Constant nodes hold weights too in some exports
        if node.op_type == "Constant" and node.output:
            t = _attr(node, "value")
            if t is not None and hasattr(t, "dims"):
                shapes[node.output[0]] = (tuple(t.dims), t.data_type)

    def shape(name: str) -> Optional[tuple]:
        got = shapes.get(name)
        return got[0] if got else None

    def nbytes(name: str) -> Optional[int]:
        got = shapes.get(name)
        if not got:
            return None
        n = _numel(got[0])
        return None if n is None else n * _DTYPE_BYTES.get(got[1], 4)

    c = Counts()
    not_params = quantisation_constants(inferred.graph)
    c.params = sum(int(math.prod(i.dims)) if i.dims else 1 for name, i in inits.items()
                   if i.data_type in _PARAM_DTYPES and name not in not_params)
    read_weights = set()
    unknown_shape_nodes = 0
    for node in inferred.graph.node:
        op = node.op_type
        macs = 0
        flops = 0
        bytes_moved = 0
        node_weights = 0
        if op in VIEW_OPS:
            pass
        elif op in MATMUL_OPS or op in GEMM_OPS or op in CONV_OPS or op in ATTENTION_OPS:
            m = _node_macs(node, shape)
            if m is None:
                unknown_shape_nodes += 1
                c.unknown_ops.append("%s (shapes unknown: %s)" % (op, node.name or node.output[0]))
                m = 0
            macs = m
            flops = 2 * m
            out_n = _numel(shape(node.output[0])) or 0
            if op in GEMM_OPS or op in ("FusedConv",) or (op in CONV_OPS and len(node.input) > 2 and op != "QLinearConv"):
                flops += out_n  # bias add
        elif op in ELEMENTWISE_FLOPS:
            out_n = _numel(shape(node.output[0])) if node.output else None
            if out_n is None:
                c.unknown_ops.append("%s (shapes unknown: %s)" % (op, node.name or node.output[0]))
                out_n = 0
            flops = ELEMENTWISE_FLOPS[op] * out_n
        elif op in DATA_OPS:
            pass
        else:
            c.unknown_ops.append(op)
        if op not in VIEW_OPS:
            for name in node.input:
                if not name:
                    continue
                if name in inits:
                    if name not in read_weights:
                        read_weights.add(name)
                        node_weights += nbytes(name) or 0
                else:
                    bytes_moved += nbytes(name) or 0
            for name in node.output:
                bytes_moved += nbytes(name) or 0
        c.macs += macs
        c.flops += flops
        c.activation_bytes += bytes_moved
        c.weight_bytes += node_weights
        entry = c.per_op_type.setdefault(op, {"count": 0, "macs": 0, "flops": 0, "activation_bytes": 0,
                                              "weight_bytes": 0})
        entry["count"] += 1
        entry["macs"] += macs
        entry["flops"] += flops
        entry["activation_bytes"] += bytes_moved
        entry["weight_bytes"] += node_weights
        c.nodes.append({"name": node.name, "op_type": op, "macs": macs, "flops": flops, "activation_bytes": bytes_moved})
    return c


def analyze_file(path: str, batch: int = 1, seq_len: int = 128) -> Counts:
    import onnx

    try:
        model = onnx.load(path)
    except Exception as exc:
        raise AnalyzeError("%s is not a readable ONNX model: %s" % (path, str(exc).strip()[:300]))
    return analyze_model(model, batch, seq_len)
