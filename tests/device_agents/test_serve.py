"""The warm agent (``python -m device_agents serve``): a real server process, real jobs on a real ONNX model, each in
a forked child of its own; bad requests refused without ending it; the host's end closing ends it and a running job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.conftest import REPO, quick_measure

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the warm agent forks (POSIX)")


class Server:
    def __init__(self, cwd: Path, *flags: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "device_agents", "serve", *flags], cwd=str(cwd),
                                     env=dict(os.environ, PYTHONPATH=str(REPO)), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((obj if isinstance(obj, str) else json.dumps(obj)).encode() + b"\n")
        self.proc.stdin.flush()

    def read(self) -> Dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the server ended: %s" % self.proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        return json.loads(line)

    def end(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)


def _job_dir(tmp: Path, name: str, model: Path, **measure: Any) -> Path:
    d = tmp / name
    d.mkdir()
    (d / "job.json").write_text(json.dumps({"job_id": name, "model": {"path": str(model)}, "runtime": "onnxruntime",
                                            "measure": quick_measure(**measure)}))
    return d


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path("/proc/%d" % pid).exists() and "zombie" not in Path("/proc/%d/status" % pid).read_text().lower()


def test_each_job_runs_in_its_own_forked_process(tmp_path: Path, tiny_onnx: Path) -> None:
    srv = Server(tmp_path)
    hello = srv.read()
    assert hello["ready"] is True and hello["pid"] == srv.proc.pid
    pids: List[int] = []
    for name in ("a", "b"):
        d = _job_dir(tmp_path, name, tiny_onnx)
        srv.send({"argv": ["run", "job.json", "--out", "result.json", "--watch-parent"], "cwd": str(d)})
        started = srv.read()
        assert started["started"] not in (srv.proc.pid, *pids)
        pids.append(started["started"])
        end = srv.read()
        assert end["exit"] == 0 and isinstance(end["stdout"], str) and isinstance(end["stderr"], str)
        res = json.loads((d / "result.json").read_text())
        assert res["status"] == "ok", res
        assert res["method"]["process"].startswith("a fresh process per job, forked from a warm agent")
        assert "fork" in res["phases_s"] and "interpreter_start" not in res["phases_s"]
        assert res["phases_s"]["total"] >= res["phases_s"]["window"]
        # the child's own output files, sent back in the exit message and removed; no pid file unless asked
        assert not (d / ".agent-stdout").exists() and not (d / ".agent-stderr").exists()
        assert not (d / "agent.pid").exists()
    assert srv.end() == 0


@pytest.mark.parametrize("request_line, needle", [
    ("not json", "Expecting value"),
    (json.dumps({"argv": ["microbench", "job.json"], "cwd": "/tmp"}), "starting with 'run'"),
    (json.dumps({"argv": ["run", 3], "cwd": "/tmp"}), "list of strings"),
    (json.dumps({"argv": ["run", "job.json"], "cwd": "/no/such/folder"}), "existing folder"),
    (json.dumps([1, 2]), "JSON object"),
    (json.dumps({"argv": ["run", "job.json"], "cwd": "/tmp", "pid_file": "../agent.pid"}), "plain file name"),
    (json.dumps({"argv": ["run", "job.json"], "cwd": "/tmp", "pid_file": ".."}), "plain file name"),
])
def test_a_bad_request_is_refused_and_the_server_goes_on(tmp_path: Path, tiny_onnx: Path, request_line: str,
                                                         needle: str) -> None:
    srv = Server(tmp_path)
    assert srv.read()["ready"] is True
    srv.send(request_line)
    refused = srv.read()
    assert needle in refused["refused"]
    d = _job_dir(tmp_path, "after", tiny_onnx)
    srv.send({"argv": ["run", "job.json", "--out", "result.json"], "cwd": str(d)})
    assert "started" in srv.read() and srv.read()["exit"] == 0
    assert srv.end() == 0


def test_bad_flags_end_the_child_not_the_server(tmp_path: Path, tiny_onnx: Path) -> None:
    srv = Server(tmp_path)
    srv.read()
    d = _job_dir(tmp_path, "flags", tiny_onnx)
    srv.send({"argv": ["run", "job.json", "--no-such-flag"], "cwd": str(d)})
    srv.read()
    end = srv.read()
    assert end["exit"] == 2 and "--no-such-flag" in end["stderr"]
    assert srv.end() == 0


def test_the_host_going_away_ends_the_server_and_its_running_job(tmp_path: Path, tiny_onnx: Path) -> None:
    srv = Server(tmp_path)
    srv.read()
    d = _job_dir(tmp_path, "long", tiny_onnx, min_seconds=60.0, min_runs=10, max_runs=10 ** 9)
    srv.send({"argv": ["run", "job.json", "--out", "result.json"], "cwd": str(d)})
    child = srv.read()["started"]
    time.sleep(1.0)
    assert _alive(child)
    t0 = time.monotonic()
    assert srv.end() == 0  # standard input closed: the host is gone
    assert time.monotonic() - t0 < 10
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the job's process outlived the warm agent"
    assert not (d / "result.json").exists()


def test_a_childs_own_deadline_ends_it(tmp_path: Path, tiny_onnx: Path) -> None:
    """The agent's flags hold inside a forked child: --deadline-s ends the job (it kills its own process group, itself
    included, as a process of its own does), the server goes on."""
    srv = Server(tmp_path)
    srv.read()
    d = _job_dir(tmp_path, "deadline", tiny_onnx, min_seconds=60.0, max_runs=10 ** 9)
    t0 = time.monotonic()
    srv.send({"argv": ["run", "job.json", "--out", "result.json", "--deadline-s", "2"], "cwd": str(d)})
    child = srv.read()["started"]
    end = srv.read()
    assert end["exit"] == -9 and end["signal"] == "SIGKILL"  # named on the device, in its own numbering
    assert time.monotonic() - t0 < 15 and not _alive(child)
    assert "deadline passed" in end["stderr"]
    assert srv.end() == 0



def test_a_pid_file_names_the_jobs_group(tmp_path: Path, tiny_onnx: Path) -> None:
    """``pid_file`` (what the SSH transport kills a job through): the child writes its process group there."""
    srv = Server(tmp_path)
    srv.read()
    d = _job_dir(tmp_path, "pid", tiny_onnx)
    srv.send({"argv": ["run", "job.json", "--out", "result.json"], "cwd": str(d), "pid_file": "agent.pid"})
    child = srv.read()["started"]
    assert (d / "agent.pid").read_text() == str(child)  # written before "started": a kill sent after it reaches the job
    assert os.getpgid(child) == child  # and the job leads its own group by then
    assert srv.read()["exit"] == 0
    assert srv.end() == 0


def test_an_output_over_the_cap_comes_back_as_its_end(tmp_path: Path) -> None:
    from device_agents.serve import OUTPUT_CAP_BYTES, _output

    (tmp_path / "long").write_bytes(b"x" * 1000 + b"y" * OUTPUT_CAP_BYTES)
    text = _output(str(tmp_path), "long")
    assert text == "[edgebench: the first 1000 bytes of this output were cut]\n" + "y" * OUTPUT_CAP_BYTES
    assert not (tmp_path / "long").exists()
    (tmp_path / "short").write_text("all of it\n")
    assert _output(str(tmp_path), "short") == "all of it\n" and _output(str(tmp_path), "absent") == ""


def test_an_idle_warm_agent_ends_itself_but_never_during_a_job(tmp_path: Path, tiny_onnx: Path) -> None:
    """``--idle-exit-s``: a host whose link died without the device noticing leaves nothing running for long; a job
    longer than that idle time is not cut."""
    srv = Server(tmp_path, "--idle-exit-s", "1.5")
    srv.read()
    d = _job_dir(tmp_path, "long", tiny_onnx, min_seconds=3.0)
    srv.send({"argv": ["run", "job.json", "--out", "result.json"], "cwd": str(d)})
    srv.read()
    assert srv.read()["exit"] == 0  # 3 s of job, past the 1.5 s idle time
    t0 = time.monotonic()
    assert srv.proc.wait(timeout=30) == 0
    assert 1.0 < time.monotonic() - t0 < 10
    assert "no request for 1.5 s" in srv.proc.stderr.read().decode()  # type: ignore[union-attr]
