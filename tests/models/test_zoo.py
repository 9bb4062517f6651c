"""The zoo's models and variants: parameter counts vs published figures, every format loading in its
runtime, stats beside each artifact, fidelity thresholds per variant kind, pruning."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.build import build_all
from models.builders import build
from models.zoo import load_zoo

pytestmark = pytest.mark.slow
ZOO = load_zoo()


@pytest.mark.parametrize("name", sorted(ZOO.models))
def test_parameter_count_within_two_percent_of_published(name: str) -> None:
    entry = ZOO.model(name)
    built = build(entry)
    params = sum(p.numel() for p in built.module.parameters())
    assert params == pytest.approx(entry.published_params_m * 1e6, rel=0.02), "%s: %.3f M" % (name, params / 1e6)


def test_random_weights_have_no_dead_branch() -> None:
    import torch

    for name in ("mobilevit-xs", "tinybert-4", "edgeformer-s"):
        built = build(ZOO.model(name))
        for pname, p in built.module.named_parameters():
            assert p.detach().abs().sum() > 0, "%s: %s is all zero" % (name, pname)
        with torch.no_grad():
            y = built.module(**built.example_kwargs)
        y = y[0] if isinstance(y, tuple) else y
        assert y.std() > 1e-3, "%s gives constant outputs" % name


@pytest.fixture(scope="module")
def tinybert_all():
    arts = build_all(["tinybert-4"], ["all"], log=lambda s: None)
    return {a.variant: a for a in arts}


def test_every_variant_is_built_with_stats(tinybert_all) -> None:
    assert set(tinybert_all) == set(ZOO.variants)  # text models take every variant, pruning included
    failed = {v: a.error for v, a in tinybert_all.items() if a.status != "built"}
    assert failed == {}
    macs = tinybert_all["onnx-fp32"].stats["macs"]
    for v, a in tinybert_all.items():
        assert (Path(a.path).parent / "stats.json").is_file()
        assert a.stats["file_bytes"] == Path(a.path).stat().st_size
        if "heads" not in v and "layers" not in v:
            assert a.stats["macs"] == macs, v  # the same network in every format
    assert tinybert_all["onnx-int8-dynamic"].stats["weight_bytes"] < tinybert_all["onnx-fp32"].stats["weight_bytes"] / 3


@pytest.mark.parametrize("variant", ["onnx-fp32", "onnx-fp16", "onnx-int8-dynamic", "onnx-int8-static",
                                     "onnx-int8-mixed", "tflite-fp32", "tflite-fp16", "tflite-int8-dynamic",
                                     "tflite-int8-full", "onnx-fp32-heads50", "onnx-fp32-layers50"])
def test_each_format_runs_in_its_runtime(tinybert_all, variant: str) -> None:
    from device_agents.inputs import generate_inputs
    from device_agents.runtimes import runtime_class

    art = tinybert_all[variant]
    rt = runtime_class(art.runtime)({"threads": 1})
    rt.load(art.path)
    feeds, _ = generate_inputs(rt.input_specs(), 0, 128, art.input_hints)
    rt.resize_inputs({k: list(v.shape) for k, v in feeds.items()})
    rt.prepare(feeds)
    rt.run_once()
    (name, out), *_ = rt.outputs()
    assert out.shape[-1] == 312


def test_coreml_packages_load_in_coremltools(tinybert_all) -> None:
    from models.convert.coreml_export import load_for_check

    for v in ("coreml-fp32", "coreml-fp16", "coreml-int8"):
        model = load_for_check(Path(tinybert_all[v].path))
        assert {i.name for i in model.get_spec().description.input} == {"input_ids", "attention_mask"}
        fid = tinybert_all[v].stats["fidelity"]
        assert fid["cosine_mean"] is None and "Apple" in fid["reason"]
    sizes = [tinybert_all[v].file_bytes for v in ("coreml-fp32", "coreml-fp16", "coreml-int8")]
    assert sizes[0] > sizes[1] > sizes[2]


#: Minimum mean cosine similarity to the fp32 PyTorch reference, per variant kind.
THRESHOLDS = {"onnx-fp32": 0.9999, "tflite-fp32": 0.9999, "onnx-fp16": 0.999, "tflite-fp16": 0.999,
              "onnx-int8-dynamic": 0.99, "tflite-int8-dynamic": 0.99, "onnx-int8-mixed": 0.99,
              "onnx-int8-static": 0.95, "tflite-int8-full": 0.5}


@pytest.mark.parametrize("variant", sorted(THRESHOLDS))
def test_fidelity_threshold_per_variant_kind(tinybert_all, variant: str) -> None:
    fid = tinybert_all[variant].stats["fidelity"]
    assert fid["inputs"] == 8 and fid["cosine_mean"] >= THRESHOLDS[variant], fid


def test_mixed_precision_keeps_more_fidelity_than_full_static(tinybert_all) -> None:
    mixed = tinybert_all["onnx-int8-mixed"].stats["fidelity"]["cosine_mean"]
    static = tinybert_all["onnx-int8-static"].stats["fidelity"]["cosine_mean"]
    assert mixed > static


def test_pruning_removes_heads_and_layers(tinybert_all) -> None:
    full = tinybert_all["onnx-fp32"].stats
    heads = tinybert_all["onnx-fp32-heads50"].stats
    layers = tinybert_all["onnx-fp32-layers50"].stats
    # 12 -> 6 heads of 26 dims in each of 4 layers: Q, K, V lose 156 rows (+bias), the output 156 columns
    assert full["params"] - heads["params"] == 4 * (3 * (156 * 312 + 156) + 156 * 312)
    assert layers["macs"] < 0.6 * full["macs"] and layers["params"] < full["params"]
    assert tinybert_all["onnx-fp32-layers50"].stats["fidelity"]["cosine_mean"] < 1.0  # the cost is shown


def test_minilm_real_weights_and_embedding_fidelity() -> None:
    arts = {a.variant: a for a in build_all(["minilm-l6"], ["onnx-fp32", "onnx-int8-dynamic", "tflite-int8-dynamic"],
                                            log=lambda s: None)}
    for v, a in arts.items():
        fid = a.stats["fidelity"]
        assert fid["inputs"] == 8 and fid["nn_agreement"] >= 0.75, (v, fid)
    assert arts["onnx-fp32"].stats["fidelity"]["cosine_mean"] > 0.9999
    assert arts["onnx-int8-dynamic"].stats["fidelity"]["cosine_mean"] > 0.98


def test_vision_model_converts_and_runs() -> None:
    arts = {a.variant: a for a in build_all(["mobilevit-xs"], ["onnx-fp32", "tflite-fp32"], log=lambda s: None)}
    for a in arts.values():
        assert a.status == "built", a.error
        fid = a.stats["fidelity"]
        assert fid["cosine_mean"] > 0.999 and fid["top1_agreement"] == 1.0
    assert arts["onnx-fp32"].stats["macs"] == pytest.approx(0.7e9, rel=0.5)  # MobileViT-XS ~0.7 GMACs at 256²


def test_models_list_is_aligned_and_names_every_variant() -> None:
    import subprocess
    import sys

    from models.zoo import load_zoo

    out = subprocess.run([sys.executable, "-m", "models", "list"], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2])).stdout
    table = out.split("\n\n")[0].splitlines()
    col = table[0].index("task")
    assert all(line[col - 2:col] == "  " and line[col] != " " for line in table[1:])  # one column, every row
    for name in load_zoo().variants:
        assert " %s " % name in out
