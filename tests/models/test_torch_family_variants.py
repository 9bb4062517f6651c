"""The torch-family zoo variants (.pt2 ExportedProgram, .pte ExecuTorch): declared, built, and faithful."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.convert import recipe
from models.fidelity import RUNTIME_OF_FORMAT
from models.zoo import load_zoo


@pytest.mark.parametrize("variant,fmt,runtime", [("pt2-fp32", "pt2", "torch"),
                                                 ("pte-xnnpack-fp32", "pte", "executorch"),
                                                 ("pte-coreml-fp16", "pte", "executorch")])
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


@pytest.mark.slow
def test_coreml_delegated_pte_exports_here_and_is_unavailable_off_apple(tmp_path: Path) -> None:
    """The Core ML partitioner exports on Linux; the program runs only on macOS/iOS, and the agent says so
    (unavailable, with the alternative) instead of failing at load. Fidelity is null with that reason."""
    import sys

    from models.build import build_all
    from tests.conftest import agent_job, quick_measure

    art = build_all(["mobilevit-xs"], ["pte-coreml-fp16"], log=lambda s: None)[0]
    assert art.status == "built", art.error
    assert art.stats["fidelity"]["cosine_mean"] is None and "macOS/iOS" in art.stats["fidelity"]["reason"]
    if sys.platform == "darwin":
        pytest.skip("on a Mac the program runs")
    r = agent_job(tmp_path, {"job_id": "coreml", "model": {"path": art.path, "format": "pte"},
                             "runtime": {"name": "executorch"}, "measure": quick_measure()})
    assert r["status"] == "unavailable" and "pte-xnnpack-fp32" in r["reason"]

