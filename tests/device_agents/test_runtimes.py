"""Both runtimes on real converted transformer models (TinyBERT-4 from the zoo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import agent_job, quick_measure

pytestmark = pytest.mark.slow


def _job(art, runtime: str, **options):
    return {"job_id": "%s-%s" % (art.variant, runtime),
            "model": {"path": art.path, "sha256": art.sha256, "format": art.format, "input_hints": art.input_hints},
            "runtime": {"name": runtime, "options": options}, "measure": quick_measure(min_runs=12)}


def test_onnxruntime_runs_tinybert_with_profile(tmp_path: Path, zoo_default) -> None:
    art = zoo_default["onnx-fp32"]
    r = agent_job(tmp_path, _job(art, "onnxruntime", threads=2, profile=True))
    assert r["status"] == "ok", r
    ids = next(i for i in r["inputs"] if i["name"] == "input_ids")
    assert ids["shape"] == [1, 128] and ids["fill"] == "token_ids uniform[0,30522)"
    assert r["outputs"][0]["shape"] == [1, 128, 312]
    assert r["outputs"][0]["non_finite_count"] == 0
    prof = r["extras"]["ort_profile"]
    # ORT's own profiler saw every run call: first + warm-up + timed
    assert len(prof["model_run_ms"]) == 1 + r["timing"]["warmup_runs"] + r["timing"]["runs"]
    assert {n["op_type"] for n in prof["nodes"]} >= {"MatMul"}
    assert r["model"]["sha256"] == art.sha256


def test_onnxruntime_int8_and_optimisation_level(tmp_path: Path, zoo_default) -> None:
    art = zoo_default["onnx-int8-dynamic"]
    r = agent_job(tmp_path, _job(art, "onnxruntime", graph_optimization_level="basic", threads=1))
    assert r["status"] == "ok", r
    assert r["runtime"]["options"]["graph_optimization_level"] == "basic"


@pytest.mark.parametrize("xnnpack", [True, False])
def test_litert_runs_tinybert(tmp_path: Path, zoo_default, xnnpack: bool) -> None:
    art = zoo_default["tflite-fp32"]
    r = agent_job(tmp_path, _job(art, "litert", threads=2, xnnpack=xnnpack))
    assert r["status"] == "ok", r
    assert r["runtime"]["backend"] == "ai-edge-litert" and r["runtime"]["xnnpack"] is xnnpack
    names = {i["name"]: i for i in r["inputs"]}
    # LiteRT prefixes signature inputs; the hints still apply
    assert names["serving_default_input_ids"]["fill"] == "token_ids uniform[0,30522)"
    assert names["serving_default_attention_mask"]["fill"] == "ones"
    assert r["outputs"][0]["non_finite_count"] == 0


def test_same_model_same_answer_in_both_runtimes(tmp_path: Path, zoo_default) -> None:
    """Identical seeded inputs through ORT and LiteRT give (nearly) the same hidden states."""
    (tmp_path / "o").mkdir()
    (tmp_path / "t").mkdir()
    o = agent_job(tmp_path / "o", _job(zoo_default["onnx-fp32"], "onnxruntime"))
    t = agent_job(tmp_path / "t", _job(zoo_default["tflite-fp32"], "litert"))
    assert o["status"] == t["status"] == "ok"
    assert o["outputs"][0]["mean"] == pytest.approx(t["outputs"][0]["mean"], abs=1e-3)
    assert o["outputs"][0]["std"] == pytest.approx(t["outputs"][0]["std"], rel=1e-3)
