"""The local transport's warm agent (bench/transports/warm.py + device_agents/serve.py), through
``LocalTransport.exec`` as the runner calls it: real agent processes, a real ONNX model. Jobs run in forked children;
a timeout kills the job and keeps the warm agent; a warm agent killed mid-job is that job's agent killed and the rest
of the run starts processes of their own; an interpreter that cannot serve hands its jobs to processes of their own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

from bench.transports.local import LocalTransport
from tests.conftest import REPO, quick_measure

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the warm agent forks (POSIX)")

FORKED = "a fresh process per job, forked from a warm agent"
OWN = "one fresh agent process per job"


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalTransport]:
    """The local machine as a device, its warm agent ended after the test."""
    t = LocalTransport(str(tmp_path / "dev"))
    yield t
    t.close()


def _job(t: LocalTransport, name: str, model: Path, **measure: Any) -> str:
    d = Path(t.root) / "jobs" / "run1" / name
    d.mkdir(parents=True)
    (d / "job.json").write_text(json.dumps({"job_id": name, "model": {"path": str(model)}, "runtime": "onnxruntime",
                                            "measure": quick_measure(**measure)}))
    return str(d)


def _argv(python: str = sys.executable) -> List[str]:
    return [python, "-m", "device_agents", "run", "job.json", "--out", "result.json", "--watch-parent"]


def _run(t: LocalTransport, d: str, timeout_s: float = 60, python: str = sys.executable) -> Any:
    return t.exec(_argv(python), timeout_s=timeout_s, cwd=d, env={"PYTHONPATH": str(REPO)})


def _result(d: str) -> dict:
    return json.loads((Path(d) / "result.json").read_text())


def _servers() -> List[int]:
    out = subprocess.run(["pgrep", "-f", "device_agents serve"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _gone(pid: int, within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if "zombie" in Path("/proc/%d/status" % pid).read_text().lower():
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def _interpreter(path: Path, first: str) -> Path:
    """A stand-in device 'python': a shell wrapper that runs ``first`` (fail to serve, start slowly), then this
    interpreter with its arguments — the real agent behind it."""
    path.write_text('#!/bin/sh\n%s\nexec %s "$@"\n' % (first, sys.executable))
    path.chmod(0o755)
    return path


def _procs_in(d: str) -> List[int]:
    """Live processes whose working folder is ``d`` (a job's processes)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == d and "zombie" not in (entry / "status").read_text().lower():
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _none_left_in(d: str, within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while _procs_in(d) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _procs_in(d)


def _later(seconds: float, fn: Any) -> threading.Thread:
    def go() -> None:
        time.sleep(seconds)
        fn()
    th = threading.Thread(target=go, daemon=True)
    th.start()
    return th


def test_jobs_run_in_children_of_one_warm_agent_which_close_ends(tmp_path: Path, tiny_onnx: Path,
        local: LocalTransport) -> None:
    servers = []
    for name in ("a", "b", "c"):
        d = _job(local, name, tiny_onnx)
        res = _run(local, d)
        assert res.returncode == 0 and not res.timed_out, res.stderr
        r = _result(d)
        assert r["status"] == "ok" and r["method"]["process"].startswith(FORKED)
        assert local.warm.agent is not None
        servers.append(local.warm.agent.pipe.proc.pid)  # type: ignore[union-attr]
    assert len(set(servers)) == 1  # one warm agent for the run
    assert not list(Path(d).glob(".agent-*"))  # the child's output files were read and removed
    local.close()  # the end of the run
    assert _gone(servers[0]) and servers[0] not in _servers()


def test_a_timeout_kills_the_job_and_keeps_the_warm_agent(tmp_path: Path, tiny_onnx: Path,
        local: LocalTransport) -> None:
    d = _job(local, "slow", tiny_onnx, min_seconds=60.0, max_runs=10 ** 9)
    t0 = time.monotonic()
    res = _run(local, d, timeout_s=2)
    assert res.timed_out and res.kill_confirmed and time.monotonic() - t0 < 20
    assert res.signal == "SIGKILL" and _none_left_in(d)
    assert local.warm.agent is not None and local.warm.agent.alive()
    d2 = _job(local, "next", tiny_onnx)
    assert _run(local, d2).returncode == 0 and _result(d2)["method"]["process"].startswith(FORKED)


def test_a_warm_agent_killed_mid_job_is_that_jobs_agent_killed(tmp_path: Path, tiny_onnx: Path,
        local: LocalTransport) -> None:
    _run(local, _job(local, "first", tiny_onnx))
    server = local.warm.agent.pipe.proc.pid  # type: ignore[union-attr]
    d = _job(local, "victim", tiny_onnx, min_seconds=60.0, max_runs=10 ** 9)
    _later(1.5, lambda: os.kill(server, signal.SIGKILL))
    res = _run(local, d, timeout_s=60)
    assert res.returncode == -signal.SIGKILL and res.signal == "SIGKILL" and not res.timed_out
    assert _none_left_in(d)  # the job's own process went with its warm agent
    assert "warm agent ended while this job ran" in res.stderr
    assert local.warm.enabled is False and "ended while a job ran" in (local.warm.off_reason or "")
    d2 = _job(local, "after", tiny_onnx)
    assert _run(local, d2).returncode == 0
    assert _result(d2)["method"]["process"] == OWN  # the rest of the run: processes of their own


def test_an_interpreter_that_cannot_serve_hands_the_job_to_its_own_process(tmp_path: Path, tiny_onnx: Path,
        local: LocalTransport) -> None:
    """A device 'python' (a wrapper) that runs jobs but fails to serve: the job runs, in a process of its own."""
    wrapper = _interpreter(tmp_path / "python-no-serve", '[ "$3" = serve ] && exit 3')
    d = _job(local, "a", tiny_onnx)
    res = _run(local, d, python=str(wrapper))
    assert res.returncode == 0, res.stderr
    assert _result(d)["method"]["process"] == OWN
    assert local.warm.enabled is False and "did not start" in (local.warm.off_reason or "")


def test_warm_agent_off_by_environment(tmp_path: Path, tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_WARM_AGENT", "0")
    t = LocalTransport(str(tmp_path / "dev"))
    d = _job(t, "a", tiny_onnx)
    assert _run(t, d).returncode == 0 and _result(d)["method"]["process"] == OWN
    assert t.warm.agent is None


def check_abort_mid_job(t: Any, job: Callable[..., str], run: Callable[[str], Any],
                        warm_gone: Callable[[], bool]) -> None:
    """Abort ``t`` (Ctrl-C: the runner aborts its devices' transports from another thread) 1.5 s into a long job
    (``job(name, **measure)`` makes its folder, ``run(folder)`` runs it): the job killed, nothing of it left, its
    warm agent gone (``warm_gone``), and nothing starts on the transport afterwards."""
    d = job("long", min_seconds=60.0, max_runs=10 ** 9)
    _later(1.5, t.abort)
    t0 = time.monotonic()
    res = run(d)
    assert res.signal == "SIGKILL" and time.monotonic() - t0 < 15
    assert _none_left_in(d) and warm_gone()
    d2 = job("after")
    res2 = run(d2)
    assert res2.signal == "SIGKILL" and "aborted" in res2.stderr and not (Path(d2) / "result.json").exists()


def test_abort_mid_job_kills_it_and_nothing_starts_afterwards(tmp_path: Path, tiny_onnx: Path,
        local: LocalTransport) -> None:
    check_abort_mid_job(local, lambda name, **m: _job(local, name, tiny_onnx, **m), lambda d: _run(local, d),
                        lambda: _servers_gone(local))


def test_abort_while_the_warm_agent_starts_runs_nothing(tmp_path: Path, tiny_onnx: Path,
        local: LocalTransport) -> None:
    """Aborted during the warm agent's start-up (a slow interpreter): no fall-back to a process of its own."""
    slow = _interpreter(tmp_path / "python-slow", "sleep 3")
    d = _job(local, "a", tiny_onnx)
    _later(0.5, local.abort)
    res = _run(local, d, python=str(slow))
    assert res.signal == "SIGKILL" and not (Path(d) / "result.json").exists()
    assert _none_left_in(d) and _none_left_in(str(Path(d).parent))


def test_the_host_dying_ends_the_warm_agent_and_its_job(tmp_path: Path, tiny_onnx: Path) -> None:
    """A host process (the harness) SIGKILLed mid-job: the warm agent sees its input close and kills the job."""
    d = tmp_path / "dev" / "jobs" / "run1" / "long"
    d.mkdir(parents=True)
    (d / "job.json").write_text(json.dumps({"job_id": "long", "model": {"path": str(tiny_onnx)},
                                            "runtime": "onnxruntime",
                                            "measure": quick_measure(min_seconds=60.0, max_runs=10 ** 9)}))
    host = subprocess.Popen([sys.executable, "-c", (
        "import sys; from bench.transports.local import LocalTransport; "
        "t = LocalTransport(sys.argv[1]); "
        "t.exec([sys.executable, '-m', 'device_agents', 'run', 'job.json', '--out', 'result.json', "
        "'--watch-parent'], timeout_s=120, cwd=sys.argv[2], env={'PYTHONPATH': sys.argv[3]})"),
        str(tmp_path / "dev"), str(d), str(REPO)], cwd=str(REPO))
    try:
        deadline = time.monotonic() + 30
        while not _procs_in(str(d)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _procs_in(str(d)), "the job never started"
        time.sleep(1.0)
        host.kill()
        host.wait()
        assert _none_left_in(str(d)) and _none_left_in(str(d.parent))
    finally:
        host.kill()


def test_a_refused_request_is_a_job_that_never_started(tmp_path: Path) -> None:
    from bench.transports.warm import ProcessPipe, WarmAgent, WarmAgentUnavailable

    agent = WarmAgent(ProcessPipe([sys.executable, "-m", "device_agents"], dict(os.environ, PYTHONPATH=str(REPO)),
                                  str(tmp_path)), 60)
    try:
        agent.wait_ready()
        with pytest.raises(WarmAgentUnavailable, match="refused the job: cwd must be an existing folder"):
            agent.run(["run", "job.json"], str(tmp_path / "no-such-folder"), 30)
    finally:
        agent.close()


def _servers_gone(t: LocalTransport) -> bool:
    return t.warm.agent is None or not t.warm.agent.alive()
