"""PyTorch -> ExecuTorch program (``.pte``), delegated to XNNPACK (fp32) or Core ML (fp16, Apple devices
only), for the ``executorch`` runtime. (8-bit: XNNPACKQuantizer + torchao PT2E fails here for both BERT — integer index tensors
broken by prepare_pt2e in transformers-5 mask code — and MobileViT — XNNPACK ChannelsLastTaggedReshapePass —
with executorch 1.5.1 / torchao 0.18 / torch 2.13, so no 8-bit .pte variant is offered.)

A ``.pte`` method takes its inputs by position and stores no names, so the input and output names
(the builder's keyword names and output names, as JSON) travel inside the program as a constant
method, ``edgebench_meta``, returning the UTF-8 bytes as a uint8 tensor; the agent reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def export_xnnpack(built: Any, out: Path, entry: Any = None) -> None:
    """fp32, every supported operator delegated to XNNPACK."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    _lower(built, out, XnnpackPartitioner(), "XnnpackBackend")


def export_coreml(built: Any, out: Path, entry: Any = None) -> None:
    """Delegated to Core ML (coremltools' default mlprogram precision, fp16). Exports on Linux; runs only
    on Apple devices (the agent says so elsewhere instead of failing at load)."""
    from executorch.backends.apple.coreml.partition import CoreMLPartitioner

    _lower(built, out, CoreMLPartitioner(), "CoreMLBackend")


def _lower(built: Any, out: Path, partitioner: Any, backend: str) -> None:
    import torch
    from executorch.exir import to_edge_transform_and_lower

    from device_agents.runtimes.executorch_rt import META_METHOD

    names = list(built.example_kwargs)
    ep = torch.export.export(built.module.eval(), args=tuple(built.example_kwargs[n] for n in names))
    meta = json.dumps({"input_names": names, "output_names": list(built.output_names),
                       "backend": backend}).encode("utf-8")
    program = to_edge_transform_and_lower(
        ep, partitioner=[partitioner],
        constant_methods={META_METHOD: torch.tensor(list(meta), dtype=torch.uint8)}).to_executorch()
    out.write_bytes(program.buffer)
