"""Shared fixtures. Built models go to a persistent test cache (content-addressed, so never stale);
results go to per-test temporary folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("EDGEBENCH_CACHE", str(REPO / ".cache" / "test-edgebench"))

#: Test modules that share machine-wide test beds (network namespaces ``ebdutK`` with fixed names and addresses,
#: the nft traffic guard's one table, the emulated board's root file system): under pytest-xdist they all run on
#: one worker, one after another (``--dist loadgroup``), never beside each other.
SHARED_BEDS = ("tests.netns", "tests import netns", "armboard")


_USES_BED: Dict[str, bool] = {}


def pytest_itemcollected(item: pytest.Item) -> None:
    """Each test of a module that uses a shared test bed joins the xdist group ``beds`` (marked as it is collected,
    before xdist's worker reads the groups)."""
    path = str(item.path)
    if path not in _USES_BED:
        try:
            text = Path(path).read_text()
        except OSError:
            text = ""
        _USES_BED[path] = any(name in text for name in SHARED_BEDS)
    if _USES_BED[path]:
        item.add_marker(pytest.mark.xdist_group("beds"))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """On an xdist worker with ``--dist loadgroup``: every test of a shared test bed must carry its group in its node
    id by now, or two workers would build the same namespaces at once — refuse to run rather than collide."""
    if not getattr(config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError("pytest-xdist did not apply its groups (pytest %s): %d shared-test-bed test(s) such as "
                                "%s could run on two workers at once; install the pinned pytest (make setup)"
                                % (pytest.__version__, len(lost), lost[0]))


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("EDGEBENCH_DEVICES", str(tmp_path / "devices.yaml"))


@pytest.fixture(scope="session")
def zoo_default() -> Dict[str, Any]:
    """The default zoo set (tinybert-4: ONNX fp32, ONNX INT8 dynamic, TFLite fp32), built once."""
    from models.build import build_all

    arts = build_all(["default"], log=lambda s: None)
    return {a.variant: a for a in arts}


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real ONNX model made with onnx.helper: y = relu(x @ W + b), x: [batch, 64] float32."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((64, 32)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "B"], ["a"]),
         helper.make_node("Relu", ["a"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 32])], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("models") / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def run_agent(args: List[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The agent as a device runs it: its own process, only device_agents on the path."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "device_agents"] + args, cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=timeout)


def agent_job(tmp_path: Path, job: Dict[str, Any]) -> Dict[str, Any]:
    """Write ``job`` to a file, run the agent on it, return the result JSON."""
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = run_agent(["run", "job.json", "--out", "result.json"], tmp_path)
    assert (tmp_path / "result.json").exists(), proc.stderr
    return json.loads((tmp_path / "result.json").read_text())


def quick_measure(**extra: Any) -> Dict[str, Any]:
    m = {"warmup_runs": 2, "warmup_min_s": 0.0, "min_runs": 10, "min_seconds": 0.0}
    m.update(extra)
    return m


def _tmpfs(tmp_path: Path, name: str, size: str) -> Iterator[Path]:
    mnt = tmp_path / name
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "ebtest", str(mnt)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): %s" % proc.stderr.strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (a real ENOSPC for a device's work dir or a results folder), unmounted after."""
    yield from _tmpfs(tmp_path, "small", "2m")


@pytest.fixture
def results_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs: room for a run's report and catalogue once a test frees what it filled."""
    yield from _tmpfs(tmp_path, "results", "32m")
