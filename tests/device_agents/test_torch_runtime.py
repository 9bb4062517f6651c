"""The torch runtime on real exported programs (.pt2): modes, precisions, devices, and the agent job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import agent_job, quick_measure
from tests.device_agents.torch_models import export_pt2

torch = pytest.importorskip("torch")
#: The tiny model's vocabulary is 100 tokens.
HINTS = {"input_ids": {"kind": "token_ids", "high": 100}}


@pytest.fixture(scope="module")
def tiny_pt2(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("pt2") / "tiny.pt2"
    built = export_pt2(path)
    return path, built


def _run(path: Path, **options):
    from device_agents.runtimes.torch_rt import TorchRuntime

    rt = TorchRuntime(dict(options, threads=1))
    rt.load(str(path))
    feeds = {"input_ids": np.arange(16, dtype=np.int64).reshape(1, 16) % 100,
             "attention_mask": np.ones((1, 16), dtype=np.int64)}
    rt.prepare(feeds)
    rt.run_once()
    return rt, feeds


def _reference(built, feeds):
    with torch.no_grad():
        return [t.numpy() for t in built.module(**{k: torch.from_numpy(v) for k, v in feeds.items()})]


def test_eager_matches_the_module_and_names_come_from_the_file(tiny_pt2) -> None:
    path, built = tiny_pt2
    rt, feeds = _run(path, mode="eager")
    specs = {s.name: s for s in rt.input_specs()}
    assert specs["input_ids"].shape == [1, 16] and specs["input_ids"].dtype == "int64"
    outs = rt.outputs()
    assert [n for n, _ in outs] == ["hidden", "pooled"]
    for (_, got), want in zip(outs, _reference(built, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    d = rt.describe()
    assert d["mode"] == "eager" and d["compile_ms"] is None and d["threads"] == 1


@pytest.mark.parametrize("dtype,tol", [("bfloat16", 5e-2), ("float16", 5e-3)])
def test_reduced_precision_casts_weights_and_returns_float32(tiny_pt2, dtype: str, tol: float) -> None:
    path, built = tiny_pt2
    rt, feeds = _run(path, mode="eager", dtype=dtype)
    got = rt.outputs()[0][1]
    want = _reference(built, feeds)[0]
    assert got.dtype == np.float32
    assert not np.array_equal(got, want)  # really ran in reduced precision
    np.testing.assert_allclose(got, want, atol=tol * np.abs(want).max())


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["compile", "exported"])
def test_compiled_modes_count_compilation_in_load(tiny_pt2, mode: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the AOTInductor package goes to the job directory
    path, built = tiny_pt2
    rt, feeds = _run(path, mode=mode)
    assert rt.describe()["compile_ms"] > 100  # Inductor / AOTInductor compiled inside load
    np.testing.assert_allclose(rt.outputs()[1][1], _reference(built, feeds)[1], rtol=1e-4, atol=1e-5)


def test_bad_options_are_refused() -> None:
    from device_agents.runtimes.base import BadOption
    from device_agents.runtimes.torch_rt import TorchRuntime

    for opts in ({"mode": "jit"}, {"dtype": "int8"}, {"device": "tpu"}, {"nonsense": 1}):
        with pytest.raises(BadOption):
            TorchRuntime(opts)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_job_is_unavailable_without_cuda(tmp_path: Path, tiny_pt2) -> None:
    path, _ = tiny_pt2
    r = agent_job(tmp_path, {"job_id": "t", "model": {"path": str(path), "format": "pt2"},
                             "runtime": {"name": "torch", "options": {"device": "cuda"}}, "measure": quick_measure()})
    assert r["status"] == "unavailable" and "CUDA" in r["reason"], r


def test_agent_job_times_the_torch_call(tmp_path: Path, tiny_pt2) -> None:
    path, _ = tiny_pt2
    r = agent_job(tmp_path, {"job_id": "t", "model": {"path": str(path), "format": "pt2", "input_hints": HINTS},
                             "runtime": {"name": "torch", "options": {"threads": 1}}, "measure": quick_measure()})
    assert r["status"] == "ok", r
    assert r["runtime"]["engine"] == "torch" and r["runtime"]["mode"] == "eager"
    assert "module(**feeds)" in r["method"]["timed_call"]
    assert len(r["latencies_ms"]) >= 10 and all(x > 0 for x in r["latencies_ms"])
    assert [o["name"] for o in r["outputs"]] == ["hidden", "pooled"] and r["outputs"][0]["shape"] == [1, 16, 32]
    assert r["compute_unit"] == "cpu"


def test_availability_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; from device_agents.runtimes import runtime_availability as a; r = a(); "
            "print(r['torch']['available'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]
