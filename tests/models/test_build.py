"""Zoo building: the content-addressed cache and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.build import build_all
from models.zoo import UnknownModel, load_zoo

REPO = Path(__file__).resolve().parents[2]


def test_zoo_file_is_consistent() -> None:
    zoo = load_zoo()
    for name in zoo.default_variants:
        assert name in zoo.variants
    for members in zoo.sets.values():
        for m in members:
            assert m in zoo.models
    assert zoo.model("tinybert-4").input_hints()["input_ids"] == {"kind": "token_ids", "high": 30522}


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(UnknownModel) as err:
        load_zoo().expand(["mobilebret"])
    assert "mobilebret" in str(err.value) and "mobilebert" in str(err.value)
    proc = subprocess.run([sys.executable, "-m", "models", "build", "--models", "mobilebret"], cwd=str(REPO),
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown model 'mobilebret'" in proc.stderr


@pytest.mark.slow
def test_second_build_is_a_cache_hit(zoo_default) -> None:
    assert {a.status for a in zoo_default.values()} == {"built"}
    again = build_all(["default"], log=lambda s: None)
    assert all(a.cached for a in again)
    assert [a.sha256 for a in again] == [zoo_default[a.variant].sha256 for a in again]
    tiny = zoo_default["onnx-fp32"]
    assert 14.0e6 < tiny.params < 14.7e6  # TinyBERT-4 without pooler: 14.35 M
    assert zoo_default["onnx-int8-dynamic"].file_bytes < tiny.file_bytes / 3


def test_failed_conversion_is_recorded_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A converter that raises leaves a failed record with its error, reused on the next build."""
    import models.convert as convert

    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path))

    def broken(built, out, entry=None):
        raise RuntimeError("converter says: op Foo is not supported")

    monkeypatch.setitem(convert.RECIPES, "boom", ("tests.models.test_build", "_boom", None))
    globals()["_boom"] = broken
    zoo = load_zoo()
    zoo.variants["tflite-boom"] = type(zoo.variants["tflite-fp32"])("tflite-boom", "tflite", "litert", "boom")
    from models.build import build_artifact

    class FakeBuilds:  # no torch model is needed to see the failure path
        def get(self, entry, prune=None):
            return object()

    art = build_artifact(zoo, zoo.model("tinybert-4"), zoo.variants["tflite-boom"], builds=FakeBuilds())
    assert art.status == "failed" and "op Foo is not supported" in art.error
    again = build_artifact(zoo, zoo.model("tinybert-4"), zoo.variants["tflite-boom"], builds=FakeBuilds())
    assert again.cached and again.status == "failed"


def test_a_long_conversion_says_it_is_alive(capfd, monkeypatch) -> None:
    """Not a terminal (as under pytest and CI): a plain 'still converting' line every HEARTBEAT_S s."""
    import time

    from models import build

    monkeypatch.setattr(build, "HEARTBEAT_S", 0.2)
    with build._heartbeat("mobilebert/tflite-fp32"):
        time.sleep(0.7)
    out = capfd.readouterr().out
    assert out.count("… still converting mobilebert/tflite-fp32 (0 s)") >= 2


def test_ctrl_c_that_a_converter_turns_into_another_error_is_not_cached_as_a_failure(tmp_path, monkeypatch) -> None:
    """transformers' lazy imports catch KeyboardInterrupt and raise ModuleNotFoundError: that must stay an
    interruption, or the model would be recorded as failed and never built again."""
    import pytest

    import models.convert as convert
    from models import build
    from models.zoo import load_zoo

    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))

    def swallowing_converter(built, out, entry=None):
        build._INTERRUPTED.set()  # what the SIGINT handler does
        raise ModuleNotFoundError("Could not import module 'BertModel'")

    monkeypatch.setattr(convert, "recipe", lambda name: (swallowing_converter, None))
    zoo = load_zoo()
    with pytest.raises(KeyboardInterrupt):
        build.build_artifact(zoo, zoo.model("tinybert-4"), zoo.variant("onnx-fp32"))
    assert not list((tmp_path / "cache").rglob("record.json")) and not list((tmp_path / "cache").rglob("*.json"))


@pytest.fixture(autouse=True)
def _interrupt_flag_cleared():
    """A test that fails with the flag set must not turn every later build of this process into an interrupt."""
    from models import build

    yield
    build._INTERRUPTED.clear()


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_that_a_converter_swallows_still_interrupts_and_records_nothing(tmp_path, monkeypatch, signame) -> None:
    """A SIGINT that lands where it is swallowed (a finaliser prints "Exception ignored", a library catches
    BaseException) let the conversion finish and the run go on, once, in CI: the handler's flag must stop it.
    SIGTERM too, which the CLI turns into KeyboardInterrupt (a killed run keeps its results)."""
    import os
    import signal
    import time

    import models.convert as convert
    from bench.cli.main import _terminate
    from models import build
    from models.zoo import load_zoo

    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))
    signum = getattr(signal, signame)

    def swallowing_converter(built, out, entry=None):
        try:
            os.kill(os.getpid(), signum)  # the real signal, through the real handler
            time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        out.write_bytes(b"half a model")

    monkeypatch.setattr(convert, "recipe", lambda name: (swallowing_converter, None))
    zoo = load_zoo()
    before = signal.signal(signal.SIGTERM, _terminate)  # as bench.cli.main does
    try:
        with pytest.raises(KeyboardInterrupt):
            with build._note_interrupts():
                build.build_artifact(zoo, zoo.model("tinybert-4"), zoo.variant("onnx-fp32"))
    finally:
        signal.signal(signal.SIGTERM, before)
    assert not list((tmp_path / "cache").rglob("*.json"))
