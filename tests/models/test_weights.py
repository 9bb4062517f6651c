"""Representative weights, checked layer by layer: every zoo model's activations stay in the range a
trained model's do, on its example inputs and on the real sentences / seeded images of the fidelity
check; a model whose reference output blows up is refused loudly."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

from models.builders.weights import ACTIVATION_MAX_ABS, UnrepresentativeModel, check_reference, randomise_
from models.zoo import load_zoo

ZOO = load_zoo()
MODELS = [e.name for e in ZOO.expand(["text", "vision"])]


def _entry(name: str) -> Any:
    return ZOO.model(name)


def layer_extremes(module: Any, feeds: List[Dict[str, Any]]) -> Dict[str, Tuple[float, bool]]:
    """{module name: (largest |output| over the feeds, all finite)} from forward hooks on every module."""
    import torch

    seen: Dict[str, Tuple[float, bool]] = {}

    def hook(name: str):
        def record(mod: Any, inputs: Any, out: Any) -> None:
            for o in (out if isinstance(out, (tuple, list)) else [out]):
                if torch.is_tensor(o) and o.is_floating_point() and o.numel():
                    big, fin = float(o.detach().abs().max()), bool(torch.isfinite(o).all())
                    prev = seen.get(name, (0.0, True))
                    seen[name] = (max(prev[0], big if fin else float("inf")), prev[1] and fin)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in module.named_modules() if n]
    try:
        with torch.no_grad():
            for f in feeds:
                module(**f)
    finally:
        for h in handles:
            h.remove()
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_every_layer_stays_in_trained_model_ranges(name: str) -> None:
    import torch

    from models.builders import build
    from models.calibration import feeds_for

    entry = _entry(name)
    built = build(entry, 0)
    feeds = [built.example_kwargs] + [{k: torch.from_numpy(v) for k, v in f.items() if k in built.example_kwargs}
                                      for f in feeds_for(entry, 2)]
    seen = layer_extremes(built.module, feeds)
    assert seen, "no layer reported"
    bad = {n: v for n, v in seen.items() if not v[1] or v[0] > ACTIVATION_MAX_ABS}
    assert not bad, "%s: layers beyond |%g| or non-finite: %s" % (name, ACTIVATION_MAX_ABS, sorted(bad.items())[:5])
    assert check_reference(built.module, built.example_kwargs, name) > 0


@pytest.mark.slow
def test_plain_random_mobilebert_blows_up_and_is_refused() -> None:
    """Without the NoNorm calibration (random weights only), MobileBERT's outputs reach ~1e12: the check
    that guards every build must refuse it, and the calibrated build must pass it."""
    import torch
    import transformers as tf

    from models.builders import build

    entry = _entry("mobilebert")
    calibrated = build(entry, 0)
    torch.manual_seed(0)
    plain = tf.MobileBertModel(tf.MobileBertConfig(**dict(entry.config)), add_pooling_layer=True).eval()
    randomise_(plain, 0)
    with pytest.raises(UnrepresentativeModel, match="blew up"):
        check_reference(plain, calibrated.example_kwargs, "mobilebert (uncalibrated)")
    assert check_reference(calibrated.module, calibrated.example_kwargs, "mobilebert") < 20


def test_non_finite_reference_is_refused() -> None:
    import torch

    class Broken(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.log(x - 10.0)  # NaN for every input below 10

    with pytest.raises(UnrepresentativeModel, match="NaN/inf"):
        check_reference(Broken(), {"x": torch.zeros(2, 3)}, "broken")


def test_a_failed_check_fails_the_build_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The build records the artifact as failed with the reason (and logs FAILED), never a silent model."""
    import torch

    import models.build as mb
    from models.builders import Built

    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path))

    class Exploding(torch.nn.Module):
        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return torch.full((1, 4), 3.0e10)

    def fake_build(entry: Any, seed: int = 0, prune: Any = None) -> Built:
        ids = torch.zeros(1, 8, dtype=torch.long)
        return Built(Exploding(), {"input_ids": ids, "attention_mask": ids}, ["y"])

    monkeypatch.setattr("models.builders.build", fake_build)
    lines: List[str] = []
    art = mb.build_artifact(ZOO, ZOO.model("tinybert-4"), ZOO.variant("onnx-fp32"), force=True, log=lines.append)
    assert art.status == "failed" and "UnrepresentativeModel" in art.error and "3e+10" in art.error
    assert any("FAILED" in ln and "tinybert-4" in ln for ln in lines)
