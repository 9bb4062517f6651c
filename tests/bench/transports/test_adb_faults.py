"""Faults on a phone over the real adb client (tests/adbpeer.py is a STAND-IN for the phone's adbd;
runners are STAND-IN shell scripts): each gives one line per job naming the phone and the cause, within
the job's deadline, and the other devices in the run finish."""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import pytest

from tests.adbpeer import (AdbServer, PeerProcess, have_adb, listening_pids, phone_and_server,
                           running_in_tree, tree_pids, write_native_phone)
from tests.bench.cli.test_cli_run import QUICK, bench, only_run, start_run

FIXTURE = (Path(__file__).resolve().parents[2] / "device_agents" / "fixtures" / "native"
           / "ort_perf_test_android_sme2_armlp.txt")

pytestmark = pytest.mark.skipif(not have_adb(), reason="needs root, adb, mksh, toybox (make test installs them)")


@pytest.fixture
def lab(tmp_path: Path):
    with phone_and_server(tmp_path) as both:
        yield both


def phone(tmp_path: Path, peer: PeerProcess, server: AdbServer, runner: Path) -> None:
    write_native_phone(tmp_path, peer, server, runner, op_timeout_s=10)


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "onnxruntime_perf_test"
    path.write_text("#!/system/bin/sh\n# STAND-IN runner for a fault test\n" + body)
    path.chmod(0o755)
    return path


def aarch64_elf(tmp_path: Path) -> Path:
    """A minimal ELF64 header for aarch64 (e_machine 183): the x86-64 kernel refuses to exec it (ENOEXEC), as a
    phone refuses a binary built for another ABI."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0x400078, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    path = tmp_path / "onnxruntime_perf_test"
    path.write_bytes(header + bytes(64))
    path.chmod(0o755)
    return path


def error_line(proc) -> str:
    return next(ln for ln in proc.stdout.splitlines() if "ERROR" in ln)


@pytest.mark.slow  # over 7 s: make test, not the edit loop
@pytest.mark.parametrize("kind", ["crash", "abi", "fails"])
def test_runner_crash_wrong_abi_and_failure_each_one_line(tmp_path: Path, lab, tiny_onnx: Path, kind: str) -> None:
    peer, server = lab
    runner = {"crash": lambda: script(tmp_path, "echo 'INFO: loading' >&2\nkill -SEGV $$\n"),
              "abi": lambda: aarch64_elf(tmp_path),
              "fails": lambda: script(tmp_path, "echo 'Error: failed to load model m.onnx' >&2\nexit 3\n")}[kind]()
    phone(tmp_path, peer, server, runner)
    proc = bench(["run", "--device", "pixel,local", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    line = error_line(proc)
    assert "pixel" in line and "\n" not in line
    want = {"crash": ["runner_crash", "SIGSEGV"], "abi": ["runner_abi", "built for another CPU/ABI", "arm64-v8a"],
            "fails": ["runner_failed", "status 3", "failed to load model"]}[kind]
    for w in want:
        assert w in line, line
    jobs = {json.loads(p.read_text())["device_name"]: json.loads(p.read_text())
            for p in (only_run(tmp_path / "results") / "jobs").glob("*.json")}
    assert jobs["local"]["status"] == "ok"


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_hanging_runner_is_killed_at_the_job_deadline(tmp_path: Path, lab, tiny_onnx: Path) -> None:
    peer, server = lab
    phone(tmp_path, peer, server, script(tmp_path, "sleep 600\n"))
    start = time.monotonic()
    proc = bench(["run", "--device", "pixel", "--model-file", str(tiny_onnx), "--ceilings", "skip",
                  "--job-timeout", "8"] + QUICK)
    assert time.monotonic() - start < 8 + 20
    line = error_line(proc)
    assert "timeout" in line and "pixel" in line and "it was killed on the device" in line
    assert not running_in_tree(peer.root, b"sleep")


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_phone_unplugged_mid_job_other_device_finishes(tmp_path: Path, lab, tiny_onnx: Path) -> None:
    peer, server = lab
    phone(tmp_path, peer, server, script(tmp_path, "sleep 600\n"))
    proc = start_run(tmp_path, str(tiny_onnx), 1, ["--device", "pixel,local", "--job-timeout", "60"] + QUICK)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not running_in_tree(peer.root, b"sleep\x00600"):
        time.sleep(0.1)
    peer.kill()  # the phone is gone (its adbd and everything it ran)
    t_kill = time.monotonic()
    out, err = proc.communicate(timeout=120)
    assert time.monotonic() - t_kill < 30
    line = next(ln for ln in out.splitlines() if "ERROR" in ln)
    assert "pixel" in line and "transport" in line and "adb" in line and "offline" in line, out
    run = only_run(tmp_path / "results")
    jobs = [json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")]
    assert {j["device_name"]: j["status"] for j in jobs} == {"pixel": "error", "local": "ok"}
    print(line)
    # the phone comes back (same address), with a runner that finishes: --resume completes the run
    peer.start()
    replay = FIXTURE.read_text().split("\n", 1)[1]
    script(tmp_path, "cat <<'OUTPUT'\n%s\nOUTPUT\n" % replay)
    proc = bench(["run", "--resume", run.name])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs = [json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")]
    assert {j["device_name"]: j["status"] for j in jobs} == {"pixel": "ok", "local": "ok"}


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_adb_server_killed_mid_job_next_job_reconnects(tmp_path: Path, lab, tiny_onnx: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The adb server dies under a running job: that job fails with one line; adb starts a new server (as
    it does by itself: here with a private HOME) and the next job `adb connect`s again and runs."""
    peer, server = lab
    monkeypatch.setenv("HOME", str(server.home))
    replay = FIXTURE.read_text().split("\n", 1)[1]
    phone(tmp_path, peer, server, script(tmp_path, "if [ -f /data/local/tmp/ran-once ]; then cat <<'OUTPUT'\n%s\n"
                                                   "OUTPUT\nelse : > /data/local/tmp/ran-once; sleep 600; fi\n" % replay))
    proc = start_run(tmp_path, str(tiny_onnx), 2, ["--device", "pixel", "--job-timeout", "60"] + QUICK)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not running_in_tree(peer.root, b"sleep\x00600"):
            time.sleep(0.1)
        server.kill()
        out, err = proc.communicate(timeout=120)
    finally:
        for pid in listening_pids(server.port):  # the server adb started again by itself
            os.kill(pid, 9)
    jobs = sorted((json.loads(p.read_text()) for p in (only_run(tmp_path / "results") / "jobs").glob("*.json")),
                  key=lambda j: j["job_id"])
    assert [j["status"] for j in jobs] == ["error", "ok"], out
    assert "pixel" in jobs[0]["error"] and "adb" in jobs[0]["error"] and "\n" not in jobs[0]["error"]
    print(jobs[0]["error"])
