"""The torch-family zoo variants (.pt2 ExportedProgram, .pte ExecuTorch): declared, built, and faithful."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.convert import recipe
from models.fidelity import RUNTIME_OF_FORMAT
from models.zoo import load_zoo


@pytest.mark.parametrize("variant,fmt,runtime", [("pt2-fp32", "pt2", "torch"),
                                                 ("pte-xnnpack-fp32", "pte", "executorch")])
def test_variants_are_declared_and_checked_in_their_runtime(variant: str, fmt: str, runtime: str) -> None:
    from device_agents.runtimes import runtime_class

    v = load_zoo().variant(variant)
    assert (v.format, v.runtime) == (fmt, runtime)
    convert, parent = recipe(v.recipe)
    assert callable(convert) and parent is None
    assert RUNTIME_OF_FORMAT[fmt] == runtime and runtime_class(runtime).name == runtime


@pytest.mark.slow
def test_tinybert_pt2_builds_with_params_and_fidelity() -> None:
    from models.build import build_all

    art = {a.variant: a for a in build_all(["tinybert-4"], ["pt2-fp32"], log=lambda s: None)}["pt2-fp32"]
    assert art.status == "built", art.error
    assert art.path.endswith(".pt2") and abs(art.params / 1e6 - 14.35) < 0.05
    stats = json.loads((Path(art.path).parent / "stats.json").read_text())
    fid = stats["fidelity"]
    assert fid["inputs"] == 8 and fid["cosine_mean"] > 0.99999 and fid["max_abs_error"] < 1e-4
    assert stats["macs"] > 0  # counted from the same model's ONNX graph
