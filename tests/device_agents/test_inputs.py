"""Input generation from a model's signature."""

from __future__ import annotations

import numpy as np
import pytest

from device_agents.inputs import InputGenerationError, generate_inputs, resolve_shape
from device_agents.runtimes.base import TensorSpec


def test_named_dynamic_dimensions() -> None:
    assert resolve_shape(TensorSpec("input_ids", ["batch", "sequence"], "int64"), 64, {}) == [1, 64]
    assert resolve_shape(TensorSpec("x", [None, None], "int64"), 32, {}) == [1, 32]
    assert resolve_shape(TensorSpec("pixel_values", ["batch", 3, 256, 256], "float32"), 128, {}) == [1, 3, 256, 256]


def test_unknown_dynamic_dimension_names_the_input_and_the_fix() -> None:
    with pytest.raises(InputGenerationError) as err:
        resolve_shape(TensorSpec("img", [1, 3, "height", "width"], "float32"), 128, {})
    assert "img" in str(err.value) and "height" in str(err.value) and "--shapes img:" in str(err.value)
    assert resolve_shape(TensorSpec("img", [1, 3, "height", "width"], "float32"), 128,
                         {"img": [1, 3, 224, 224]}) == [1, 3, 224, 224]


def test_batch_fills_a_dynamic_batch_axis_and_a_fixed_one_says_it_was_not_applied() -> None:
    assert resolve_shape(TensorSpec("x", ["batch", "seq"], "int64"), 64, {}, batch=4) == [4, 64]
    feeds, recipe = generate_inputs([TensorSpec("x", [1, 8], "float32")], 0, 128, batch=4)
    assert feeds["x"].shape == (1, 8) and "batch 4 not applied" in recipe[0]["note"]
    with pytest.raises(InputGenerationError, match="the model's inputs are x"):
        generate_inputs([TensorSpec("x", [1, 8], "float32")], 0, 128, overrides={"y": [1, 8]})


def test_token_ids_inside_vocabulary_mask_and_types() -> None:
    specs = [TensorSpec("input_ids", [1, 128], "int64"), TensorSpec("attention_mask", [1, 128], "int64"),
             TensorSpec("token_type_ids", [1, 128], "int32")]
    feeds, recipe = generate_inputs(specs, seed=3, seq_len=128, hints={"input_ids": {"kind": "token_ids", "high": 50}})
    assert feeds["input_ids"].dtype == np.int64 and feeds["input_ids"].min() >= 0 and feeds["input_ids"].max() < 50
    assert len(np.unique(feeds["input_ids"])) > 10
    assert (feeds["attention_mask"] == 1).all() and (feeds["token_type_ids"] == 0).all()
    assert [r["fill"] for r in recipe] == ["token_ids uniform[0,50)", "ones", "zeros"]


def test_token_ids_without_vocabulary_use_labelled_safe_bound() -> None:
    feeds, recipe = generate_inputs([TensorSpec("input_ids", [1, 8], "int64")], 0, 8)
    assert feeds["input_ids"].max() < 1000
    assert "no vocabulary size" in recipe[0]["fill"]


def test_prefixed_names_match_hints() -> None:
    feeds, recipe = generate_inputs([TensorSpec("serving_default_input_ids", [1, 4], "int32")], 0, 4,
                                    hints={"input_ids": {"kind": "token_ids", "high": 7}})
    assert feeds["serving_default_input_ids"].max() < 7 and recipe[0]["fill"] == "token_ids uniform[0,7)"


def test_quantised_real_input_is_quantised() -> None:
    feeds, recipe = generate_inputs([TensorSpec("x", [1, 1000], "int8", quant=(0.05, -3))], 0, 1)
    x = feeds["x"]
    assert x.dtype == np.int8 and -128 <= x.min() and x.max() <= 127
    real = (x.astype(np.float32) + 3) * 0.05
    assert abs(float(real.mean())) < 0.15 and 0.8 < float(real.std()) < 1.2  # N(0,1) survived quantisation
    assert "quantised" in recipe[0]["fill"]


def test_fixed_seed_is_reproducible_and_string_inputs_refused() -> None:
    spec = [TensorSpec("x", [2, 3], "float32")]
    a, _ = generate_inputs(spec, 5, 1)
    b, _ = generate_inputs(spec, 5, 1)
    assert np.array_equal(a["x"], b["x"])
    with pytest.raises(InputGenerationError, match="string"):
        generate_inputs([TensorSpec("text", [1], "string")], 0, 1)
