"""What an ONNX graph says about the input shape it was exported for — the hint a user needs when a model with
dynamic axes fails at the shape edgebench chose ("Reshape: input has 98304 elements, requested shape …").

A graph exported at one sequence length often keeps it in constants (the target shapes of Reshape nodes) and in
the shapes the exporter recorded (``value_info``), although its inputs declare the axis dynamic. The second
dimension of those shapes, counted over the graph, names the length the export was made for."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import List, Optional


def _reshape_targets(model: "object") -> List[List[int]]:
    """The constant target shapes of the graph's Reshape nodes (initializers or Constant nodes)."""
    from onnx import numpy_helper

    graph = model.graph  # type: ignore[attr-defined]
    consts = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t is not None:
                    consts[node.output[0]] = attr.t
    out = []
    for node in graph.node:
        if node.op_type == "Reshape" and len(node.input) > 1 and node.input[1] in consts:
            try:
                out.append([int(v) for v in numpy_helper.to_array(consts[node.input[1]]).ravel()])
            except (TypeError, ValueError):
                continue
    return out


def exported_seq_len(path: Path, used: Optional[int] = None) -> Optional[int]:
    """The sequence length the ONNX graph at ``path`` seems to be exported for (the most frequent second
    dimension of its Reshape targets and recorded shapes, above 1 and different from ``used``), or None when
    the graph does not tell."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # not ONNX, unreadable: no hint (the job's own error says what failed)
        return None
    counts: Counter = Counter()
    for shape in _reshape_targets(model):
        if len(shape) >= 3 and shape[1] > 1:
            counts[shape[1]] += 1
    for vi in list(model.graph.value_info) + list(model.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) >= 3 and dims[1].HasField("dim_value") and dims[1].dim_value > 1:
            counts[int(dims[1].dim_value)] += 1
    for length, _ in counts.most_common():
        if length != used:
            return int(length)
    return None
