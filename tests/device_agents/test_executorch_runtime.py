"""The ExecuTorch runtime on a real XNNPACK-lowered program (.pte) made by the real converter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import agent_job, quick_measure
from tests.device_agents.torch_models import tiny_built

pytest.importorskip("executorch.runtime")
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # importing executorch's exporter alone takes ~10 s on the 2-core host


@pytest.fixture(scope="module")
def tiny_pte(tmp_path_factory: pytest.TempPathFactory):
    from models.convert.executorch_export import export_xnnpack

    built = tiny_built()
    path = tmp_path_factory.mktemp("pte") / "tiny.pte"
    export_xnnpack(built, path)
    return path, built


def test_runs_with_names_from_the_program_and_matches_torch(tiny_pte) -> None:
    from device_agents.runtimes.executorch_rt import ExecuTorchRuntime

    path, built = tiny_pte
    rt = ExecuTorchRuntime({"threads": 1})
    rt.load(str(path))
    specs = rt.input_specs()
    assert [(s.name, s.shape, s.dtype) for s in specs] == [("input_ids", [1, 16], "int64"),
                                                             ("attention_mask", [1, 16], "int64")]
    feeds = {"input_ids": (np.arange(16, dtype=np.int64) % 100).reshape(1, 16),
             "attention_mask": np.ones((1, 16), dtype=np.int64)}
    rt.prepare(feeds)
    rt.run_once()
    outs = rt.outputs()
    with torch.no_grad():
        ref = built.module(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    assert [n for n, _ in outs] == ["hidden", "pooled"]
    for (_, got), want in zip(outs, ref):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)


def test_agent_job(tmp_path: Path, tiny_pte) -> None:
    path, _ = tiny_pte
    r = agent_job(tmp_path, {"job_id": "e", "model": {"path": str(path), "format": "pte",
                                                      "input_hints": {"input_ids": {"kind": "token_ids", "high": 100}}},
                             "runtime": {"name": "executorch", "options": {"threads": 1}}, "measure": quick_measure()})
    assert r["status"] == "ok", r
    assert r["method"]["timed_call"].startswith("Method.execute")
    assert r["runtime"]["engine"] == "executorch" and r["outputs"][1]["shape"] == [1, 32]
    assert r["runtime"]["threads"] == 1  # the pool was resized and read back


def test_a_file_that_is_no_program_is_a_load_error(tmp_path: Path) -> None:
    from device_agents.runtimes.base import ModelLoadError
    from device_agents.runtimes.executorch_rt import ExecuTorchRuntime

    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ModelLoadError):
        ExecuTorchRuntime().load(str(bad))
