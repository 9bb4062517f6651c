"""The TensorRT zoo variants: the ONNX file as it is (linked, not rebuilt), with the runtime options the
variant stands for reaching the job, a user's --option winning, and fidelity honestly not measured."""

from __future__ import annotations

from pathlib import Path

from bench.plan.jobs import ArtifactRef, plan_jobs
from models.zoo import load_zoo


def test_variants_declare_tensorrt_with_their_options() -> None:
    zoo = load_zoo()
    assert {(n, zoo.variant(n).runtime, zoo.variant(n).format) for n in ("trt-fp32", "trt-fp16", "trt-int8-qdq")} == {
        ("trt-fp32", "tensorrt", "onnx"), ("trt-fp16", "tensorrt", "onnx"), ("trt-int8-qdq", "tensorrt", "onnx")}
    assert zoo.variant("trt-fp16").options == {"precision": "fp16"}
    assert zoo.variant("trt-int8-qdq").options == {"strongly_typed": True}
    assert zoo.variant("onnx-fp32").options == {}


def test_variant_options_reach_the_job_and_a_user_option_wins() -> None:
    art = ArtifactRef(model="m", variant="trt-fp16", format="onnx", runtime="tensorrt", path="/x.onnx", sha256="0",
                      runtime_options={"precision": "fp16"})
    plain, = plan_jobs(["local"], [art], None, {}, {}, 60)
    assert plain.runtime_options == {"precision": "fp16"}
    user, = plan_jobs(["local"], [art], None, {"tensorrt": {"precision": "fp32", "workspace_mb": 256}}, {}, 60)
    assert user.runtime_options == {"precision": "fp32", "workspace_mb": 256} and user.job_id != plain.job_id


def test_trt_variant_is_the_onnx_file_itself_and_its_fidelity_is_not_claimed(zoo_default) -> None:
    from models.build import build_all

    arts = {a.variant: a for a in build_all(["tinybert-4"], ["onnx-fp32", "trt-fp16"], log=lambda s: None)}
    onnx, trt = arts["onnx-fp32"], arts["trt-fp16"]
    assert trt.status == "built", trt.error
    assert trt.sha256 == onnx.sha256 and trt.path != onnx.path and trt.runtime_options == {"precision": "fp16"}
    assert Path(trt.path).stat().st_ino == Path(onnx.path).stat().st_ino  # a hard link: no second copy
    fid = trt.stats["fidelity"]
    assert fid["cosine_mean"] is None and "built on the device" in fid["reason"]
