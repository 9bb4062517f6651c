"""The lab's contract without long runs: JSON-only at-most-once configuration, names, the artifact store,
one-line errors (exit 2), and one fast end-to-end run through a real Redis and a real Celery worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.lab.conftest import QUICK, REPO, Lab
from tests.redis_server import free_port


def test_app_is_json_only_and_at_most_once() -> None:
    from bench.lab.app import app

    conf = app.conf
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]  # a pickled message is refused by the worker
    assert conf.task_acks_late is False and conf.task_reject_on_worker_lost is False
    assert conf.worker_prefetch_multiplier == 1 and conf.worker_disable_prefetch is True
    assert conf.broker_transport_options["priority_steps"] == list(range(10))


def test_names_and_priorities() -> None:
    from bench.lab import keys

    assert keys.device_queue("pixel7") == "dev.pixel7"
    assert keys.user_queue("pixel7", "ann/../x") == "dev.pixel7.u.ann_.._x".replace("..", "__")
    assert [keys.kombu_priority(p) for p in (9, 5, 0, 42, -3)] == [0, 4, 9, 0, 9]
    assert keys.priority_lists("q")[:2] == ["q", "q\x06\x161"]


def test_artifact_store_by_content(tmp_path: Path, tiny_onnx: Path) -> None:
    from bench.lab.app import LabError
    from bench.lab.artifacts import fetch, publish
    from device_agents.hashing import sha256_file

    sha = sha256_file(str(tiny_onnx))
    key = publish(tiny_onnx, sha, tmp_path)
    assert key == "%s/%s/tiny.onnx" % (sha[:2], sha)
    stored = fetch(key, sha, tmp_path)
    assert stored.read_bytes() == tiny_onnx.read_bytes()
    mtime = stored.stat().st_mtime_ns
    assert publish(tiny_onnx, sha, tmp_path) == key and stored.stat().st_mtime_ns == mtime  # not copied again
    stored.write_bytes(b"corrupt")
    with pytest.raises(LabError, match="corrupt"):
        fetch(key, sha, tmp_path)
    with pytest.raises(LabError):
        fetch("../../etc/passwd", sha, tmp_path)


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_unreachable_broker_is_one_line_exit_2(tmp_path: Path) -> None:
    from bench.lab.auth import keygen

    keygen(tmp_path / "secrets")
    env = dict(os.environ, EDGEBENCH_LAB_SECRETS=str(tmp_path / "secrets"))
    url = "redis://127.0.0.1:%d/0" % free_port()  # nothing listens there
    for args in (["status"], ["wait", "x"], ["submit", "--device", "local"], ["worker", "--devices", "local"]):
        proc = subprocess.run([sys.executable, "-m", "bench", "lab"] + args + ["--broker", url], cwd=str(REPO),
                              capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "unreachable" in lines[0] and "--broker" in lines[0], proc.stderr
    proc = subprocess.run([sys.executable, "-m", "bench", "lab", "status", "--broker", "amqp://x"], cwd=str(REPO),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "needs Redis" in proc.stderr


def test_bad_input_exit_2(lab: Lab, tiny_onnx: Path) -> None:
    proc = lab.bench("lab", "submit", "--device", "nosuch", "--model-file", str(tiny_onnx), *QUICK)
    assert proc.returncode == 2 and "no lab worker for device(s) nosuch" in proc.stderr and "--offline-ok" in proc.stderr
    proc = lab.bench("lab", "worker", "--devices", "nosuch")
    assert proc.returncode == 2 and "unknown device 'nosuch'" in proc.stderr
    proc = lab.bench("lab", "wait", "20990101-000000-dead")
    assert proc.returncode == 2 and "no run" in proc.stderr


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_end_to_end_one_worker(lab: Lab, tiny_onnx: Path) -> None:
    """Submit with --wait: the run is complete in the one results store, readable by report and history; a
    second worker for the same device is refused."""
    lab.add_local("loc1")
    worker = lab.start_worker("loc1")
    dev = lab.device("loc1")
    assert dev["state"] == "healthy" and dev["queues"] == ["dev.loc1"]
    # 12 runs: the history plot needs a median CI (bench history fails on a run of 3-sample jobs, lab or not)
    proc = lab.bench("lab", "submit", "--device", "loc1", *lab.models(tiny_onnx, ["a", "b"]), *QUICK, "--runs", "12",
                     "--user", "ann", "--wait")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = proc.stdout.split("submitted run ", 1)[1].split(":", 1)[0]
    assert "2/2 done" in proc.stdout and "report: " in proc.stdout
    assert lab.manifest(run_id)["state"] == "complete" and lab.manifest(run_id)["lab"]["user"] == "ann"
    results = lab.results(run_id)
    assert [r["status"] for r in results] == ["ok", "ok"]
    for r in results:
        assert r["lab"]["worker"].startswith("loc1@") and r["lab"]["attempt"] == 1
        assert r["lab"]["queue"] == "dev.loc1.u.ann" and r["lab"]["queue_wait_s"] >= 0
    assert (lab.tmp / "results" / run_id / "report.html").is_file()
    assert lab.bench("report", run_id).returncode == 0
    hist = lab.bench("history", "--json")
    assert hist.returncode == 0 and run_id in hist.stdout
    status = lab.status_cli()
    assert status["runs"] == lab.status()["runs"]  # the command prints the same snapshot
    assert [r for r in status["runs"] if r["run_id"] == run_id][0]["state"] == "complete"
    assert status["running"] == [] and "dev.loc1.u.ann" in lab.device("loc1")["queues"]
    second = lab.bench("lab", "worker", "--devices", "loc1", timeout=60)
    assert second.returncode == 2 and "already has a lab worker" in second.stderr
    lab.stop(worker)
    assert worker.returncode == 0
    lab.wait_until(lambda: lab.device("loc1") is None, 10, "device record removed on a clean stop")
