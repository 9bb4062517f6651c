"""The warm agent on an SSH device (bench/transports/sshwarm.py + device_agents/serve.py), through
``SshTransport.exec`` as the runner calls it, against a real OpenSSH server on loopback and the real agent on a real
ONNX model: jobs run in children forked by one warm agent per run; a timeout kills the job through its pid file and
keeps the warm agent; a drop mid-job is a transport error with the job killed over a new connection, and the next job
starts a new warm agent; a warm agent killed on the device mid-job is that job's agent killed; Ctrl-C's abort."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from bench.transports import TransportError
from bench.transports.ssh import SshTransport
from tests.bench.transports.test_ssh_faults import Server, connect, start
from tests.bench.transports.test_warm import FORKED, OWN, _none_left_in, _procs_in, check_abort_mid_job
from tests.conftest import REPO, quick_measure
from tests.sshd import have_sshd

pytestmark = pytest.mark.skipif(not have_sshd(), reason="needs root, unshare and OpenSSH's sshd (make test installs it)")


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    srv = start(tmp_path)
    yield srv
    srv[0].kill()


@pytest.fixture
def box(own_server: Server, tmp_path: Path) -> Iterator[SshTransport]:
    t = connect(own_server, tmp_path / "root")
    yield t
    t.close()


def _job(t: SshTransport, name: str, model: Path, **measure: Any) -> str:
    d = t.join("jobs", "run1", name)
    Path(d).mkdir(parents=True)
    Path(d, "job.json").write_text(json.dumps({"job_id": name, "model": {"path": str(model)},
                                               "runtime": "onnxruntime", "measure": quick_measure(**measure)}))
    return d


def _run(t: SshTransport, d: str, timeout_s: float = 60, python: str = sys.executable) -> Any:
    """The agent's command line as the runner gives it over SSH (``--watch-stdin``)."""
    return t.exec([python, "-m", "device_agents", "run", "job.json", "--out", "result.json",
                   "--watch-stdin"], timeout_s=timeout_s, cwd=d, env={"PYTHONPATH": str(REPO)})


def _result(d: str) -> dict:
    return json.loads(Path(d, "result.json").read_text())


def _server_pid(t: SshTransport) -> int:
    """The device's warm agent: its process group, as the SETSID trampoline wrote it in the run's jobs folder (a pid
    in the test sshd's own PID namespace: compared, never signalled from here)."""
    return int(Path(t.join("jobs", "run1", "agent.pid")).read_text())


def _server_here(t: SshTransport) -> List[int]:
    """The warm agent's pid as this host sees it: the process working in the run's jobs folder."""
    return _procs_in(t.join("jobs", "run1"))


def _server_gone(t: SshTransport) -> bool:
    return _none_left_in(t.join("jobs", "run1"))


def test_jobs_over_ssh_run_in_children_of_one_warm_agent(box: SshTransport, tiny_onnx: Path) -> None:
    servers: List[int] = []
    for name in ("a", "b"):
        d = _job(box, name, tiny_onnx)
        res = _run(box, d)
        assert res.returncode == 0 and res.signal is None and not res.timed_out, res.stderr
        r = _result(d)
        assert r["status"] == "ok" and r["method"]["process"].startswith(FORKED), r["method"]
        assert "fork" in r["phases_s"]
        assert int(Path(d, "agent.pid").read_text()) != _server_pid(box)  # the job's own group, for a kill
        assert not list(Path(d).glob(".agent-std*"))  # its output came back in the exit message
        servers.append(_server_pid(box))
    assert servers[0] == servers[1] and len(_server_here(box)) == 1
    box.close()  # the end of the run: the channel closes, the warm agent ends
    assert _server_gone(box)


def test_a_timeout_over_ssh_kills_the_job_and_keeps_the_warm_agent(box: SshTransport, tiny_onnx: Path) -> None:
    _run(box, _job(box, "first", tiny_onnx))  # the warm agent is up before the short timeout below
    d = _job(box, "slow", tiny_onnx, min_seconds=60.0, max_runs=10 ** 9)
    t0 = time.monotonic()
    res = _run(box, d, timeout_s=4)
    assert res.timed_out and res.kill_confirmed is True and time.monotonic() - t0 < 20
    assert _none_left_in(d)
    server = _server_pid(box)
    d2 = _job(box, "next", tiny_onnx)
    assert _run(box, d2).returncode == 0 and _server_pid(box) == server  # the same warm agent goes on
    assert _result(d2)["method"]["process"].startswith(FORKED)


def test_a_drop_mid_job_is_a_transport_error_and_the_next_job_starts_a_new_warm_agent(
        own_server: Server, box: SshTransport, tiny_onnx: Path) -> None:
    sshd = own_server[0]
    _run(box, _job(box, "first", tiny_onnx))
    first = _server_pid(box)
    assert _server_here(box)
    d = _job(box, "victim", tiny_onnx, min_seconds=60.0, max_runs=10 ** 9)
    killer = threading.Timer(2.0, sshd.drop_sessions)
    killer.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(TransportError) as err:
            _run(box, d)
        assert time.monotonic() - t0 < 20
    finally:
        killer.cancel()
    msg = str(err.value)
    assert "device 'box'" in msg and "dropped" in msg and "warm agent" in msg, msg
    assert _none_left_in(d) and _server_gone(box)  # the job and its warm agent: nothing left on the device
    d2 = _job(box, "after", tiny_onnx)
    assert _run(box, d2).returncode == 0
    assert _result(d2)["method"]["process"].startswith(FORKED) and _server_pid(box) != first
    assert box.reconnects >= 1


def test_a_warm_agent_killed_on_the_device_mid_job_is_that_jobs_agent_killed(box: SshTransport,
                                                                              tiny_onnx: Path) -> None:
    _run(box, _job(box, "first", tiny_onnx))
    [server] = _server_here(box)
    d = _job(box, "victim", tiny_onnx, min_seconds=60.0, max_runs=10 ** 9)
    killer = threading.Timer(2.0, lambda: os.kill(server, signal.SIGKILL))
    killer.start()
    try:
        res = _run(box, d)
    finally:
        killer.cancel()
    assert res.returncode == -signal.SIGKILL and res.signal == "SIGKILL" and not res.timed_out, res
    assert "warm agent ended while this job ran" in res.stderr
    assert _none_left_in(d)
    assert box.warm.enabled is False and "ended while a job ran" in (box.warm.off_reason or "")
    d2 = _job(box, "after", tiny_onnx)
    assert _run(box, d2).returncode == 0 and _result(d2)["method"]["process"] == OWN  # the rest: own processes


def test_a_wrapper_that_does_not_exec_gets_no_warm_agent(own_server: Server, tmp_path: Path, tiny_onnx: Path) -> None:
    """A device "python" that is a wrapper running the interpreter as its child (as a container's entry point would,
    in another PID namespace): the process the kill helper sees is not the warm agent, so jobs could not be killed
    reliably; the job runs in a process of its own and the run says why."""
    sshd, known, _ = own_server
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text('#!/bin/sh\n%s "$@"\n' % sys.executable)  # no exec: the interpreter is a child
    wrapper.chmod(0o755)
    t = SshTransport(sshd.device("box", str(tmp_path / "root"), known, helper_python=sys.executable))
    try:
        d = _job(t, "a", tiny_onnx)
        res = _run(t, d, python=str(wrapper))
        assert res.returncode == 0, res.stderr
        assert _result(d)["method"]["process"] == OWN
        assert t.warm.enabled is False and "the device's helper sees" in (t.warm.off_reason or "")
    finally:
        t.close()


def test_abort_over_ssh_mid_job_kills_it_and_nothing_starts_afterwards(box: SshTransport, tiny_onnx: Path) -> None:
    _run(box, _job(box, "first", tiny_onnx))
    assert _server_here(box)
    check_abort_mid_job(box, lambda name, **m: _job(box, name, tiny_onnx, **m), lambda d: _run(box, d),
                        lambda: _server_gone(box))
