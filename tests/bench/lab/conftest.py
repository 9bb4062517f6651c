"""The lab under test: a real redis-server on a loopback port, real Celery workers as subprocesses
(``python -m bench lab worker``), ``local``-transport devices with their own work dirs and locks, and the
CLI as users run it. Everything started here is ended by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from tests.redis_server import RedisServer, have_redis

REPO = Path(__file__).resolve().parents[3]
#: Tiny jobs: a handful of timed runs, no minimum time, no ceilings.
QUICK = ["--runs", "3", "--min-seconds", "0", "--warmup", "0", "--ceilings", "skip"]

needs_redis = pytest.mark.skipif(not have_redis(), reason="needs redis-server (apt-get install redis-server)")


@dataclass
class Lab:
    tmp: Path
    redis: RedisServer
    env: Dict[str, str]
    procs: List[subprocess.Popen] = field(default_factory=list)
    devices: Dict[str, str] = field(default_factory=dict)

    def add_local(self, name: str, python: Optional[str] = None) -> None:
        """A ``local``-transport device with its own work dir and device lock (several on one machine)."""
        self.devices[name] = ("  %s:\n    class: linux\n    transport: local\n    workdir: %s\n%s"
                              "    options: {lock_file: %s}\n" % (name, self.tmp / ("wd-" + name),
                                                                   "    python: %s\n" % python if python else "",
                                                                   self.tmp / ("lock-" + name)))
        self.write_inventory()

    def add_yaml(self, text: str) -> None:
        self.devices[text.split(":")[0].strip()] = text
        self.write_inventory()

    def write_inventory(self) -> None:
        body = "".join(self.devices.values())
        (self.tmp / "devices.yaml").write_text("devices:\n" + body if body else "devices: {}\n")

    def bench(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bench"] + list(args), cwd=str(REPO), env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, *args: str, log: str, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
        out = open(self.tmp / log, "ab")
        proc = subprocess.Popen([sys.executable, "-m", "bench"] + list(args), cwd=str(REPO), env=env or self.env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start_worker(self, devices: str, *extra: str, wait: bool = True,
                     env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
        """``lab worker --devices ...`` (one lab host); waits until each device's record is there."""
        proc = self.popen("lab", "worker", "--devices", devices, *extra, log="worker-%s.log" % devices.replace(",", "_"),
                          env=env)
        if wait:
            for name in devices.split(","):
                self.wait_until(lambda n=name: self.device(n) is not None, 60, "worker of %s up" % name, proc)
        return proc

    def log(self, devices: str) -> str:
        return (self.tmp / ("worker-%s.log" % devices.replace(",", "_"))).read_text(errors="replace")

    def status(self) -> Dict[str, Any]:
        """The lab's status as ``lab status --json`` reports it, read in this process (bench.lab.status.snapshot,
        what the command prints): tests poll it many times, and a Python start per poll costs a second of CPU that
        the other test worker needs. ``status_cli`` is the command itself."""
        from bench.lab.records import connect
        from bench.lab.status import snapshot

        return json.loads(json.dumps(snapshot(connect(self.redis.url, patience_s=3)), sort_keys=True))

    def status_cli(self) -> Dict[str, Any]:
        """``python -m bench lab status --json``, as a user runs it."""
        proc = self.bench("lab", "status", "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def device(self, name: str) -> Optional[Dict[str, Any]]:
        return next((d for d in self.status()["devices"] if d["device"] == name and d.get("node")), None)

    def waiting(self, device: str) -> int:
        return sum(q["waiting"] for q in self.status()["queues"] if q["device"] == device)

    def submit(self, *args: str) -> str:
        proc = self.bench("lab", "submit", *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout.split("submitted run ", 1)[1].split(":", 1)[0]

    def wait(self, run_id: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return self.bench("lab", "wait", run_id, "--timeout-s", str(timeout), timeout=timeout + 30)

    def results(self, run_id: str) -> List[Dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.tmp / "results" / run_id / "jobs").glob("*.json"))]

    def manifest(self, run_id: str) -> Dict[str, Any]:
        return json.loads((self.tmp / "results" / run_id / "manifest.json").read_text())

    def models(self, source: Path, names: List[str]) -> List[str]:
        """``--model-file`` flags for copies of ``source`` named ``names`` (one job each)."""
        flags: List[str] = []
        for n in names:
            p = self.tmp / "models" / ("%s.onnx" % n)
            p.parent.mkdir(exist_ok=True)
            p.write_bytes(source.read_bytes())
            flags += ["--model-file", str(p)]
        return flags

    def wait_until(self, cond: Callable[[], bool], timeout: float, what: str,
                   proc: Optional[subprocess.Popen] = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            if proc is not None and proc.poll() is not None:
                raise AssertionError("%s: the process ended (%s)" % (what, proc.returncode))
            time.sleep(0.2)
        raise AssertionError("timed out (%.0f s) waiting for: %s" % (timeout, what))

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc, timeout=30)
            try:  # anything left in its session (a device worker, its pool child, an agent)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.redis.stop()


def make_lab(tmp_path: Path, appendonly: bool = False) -> Lab:
    from bench.lab.auth import keygen

    redis = RedisServer(tmp_path / "redis", appendonly=appendonly).start()
    keygen(tmp_path / "secrets")  # the lab's secret: every lab command reads it
    (tmp_path / "results").mkdir(exist_ok=True)  # the shared results store (a worker never creates it)
    env = dict(os.environ, EDGEBENCH_BROKER=redis.url, EDGEBENCH_RESULTS=str(tmp_path / "results"),
               EDGEBENCH_DEVICES=str(tmp_path / "devices.yaml"), EDGEBENCH_LAB_HEARTBEAT_S="0.5",
               EDGEBENCH_LAB_HEALTH_S="1", EDGEBENCH_LAB_SECRETS=str(tmp_path / "secrets"),
               EDGEBENCH_LAB_UNACCOUNTED_S="20", PYTHONUNBUFFERED="1")
    lab = Lab(tmp_path, redis, env)
    lab.write_inventory()
    return lab


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if not have_redis():
        pytest.skip("needs redis-server (apt-get install redis-server)")
    lab = make_lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def lab_aof(tmp_path: Path) -> Iterator[Lab]:
    """The same lab with Redis persistence on (append-only file), for the restart test."""
    if not have_redis():
        pytest.skip("needs redis-server (apt-get install redis-server)")
    lab = make_lab(tmp_path, appendonly=True)
    try:
        yield lab
    finally:
        lab.close()
