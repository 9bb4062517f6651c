"""Python-agent mode on the emulated aarch64 board behind the ADB stand-in: the real adb client talks to
the STAND-IN phone (tests/adbpeer.py), whose shell starts the board's aarch64 CPython (tests/armboard.py,
qemu-user), which runs the real aarch64 onnxruntime. The phone's shell runs as root here (a userdebug build
after `adb root`): the board's launcher needs a private mount namespace, and Linux refuses a user namespace
to a chrooted process, so the unprivileged `shell` user cannot start it. A functional check: emulated
timings are 100-400x slow."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.adbpeer import have_adb, phone_and_server
from tests.armboard import available, build_rootfs, make_python
from tests.bench.cli.test_cli_run import QUICK, bench, only_run

pytestmark = [pytest.mark.arm, pytest.mark.slow,
              pytest.mark.skipif(not (have_adb() and available()),
                                 reason="needs root, adb, mksh, toybox, debootstrap, qemu-user-static, zstd")]


def test_python_agent_mode_runs_on_the_aarch64_board(tmp_path: Path, tiny_onnx: Path) -> None:
    cache = Path(os.environ["EDGEBENCH_CACHE"]) / "testbed"
    cache.mkdir(parents=True, exist_ok=True)
    board = tmp_path / "board"
    rootfs = build_rootfs(cache, board / "rootfs")
    (rootfs / "data/local").mkdir(parents=True, exist_ok=True)  # the phone's /data/local is bound there
    python = make_python(rootfs, Path("/data/local"), board)
    with phone_and_server(tmp_path / "lab", binds=[str(board)], adb_root=True) as (peer, server):
        (tmp_path / "devices.yaml").write_text(
            # as root, a work dir of root's own (/data/local/tmp belongs to the shell user)
            "devices:\n  pixel:\n    class: android\n    serial: %s\n    python: %s\n"
            "    workdir: /data/local/edgebench\n"
            "    options: {adb_server_port: %d, connect_timeout_s: 5, op_timeout_s: 120}\n"
            % (peer.serial, python, server.port))
        proc = bench(["run", "--device", "pixel", "--model-file", str(tiny_onnx), "--ceilings", "skip",
                      "--job-timeout", "600"] + QUICK, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = json.loads(next((only_run(tmp_path / "results") / "jobs").glob("*.json")).read_text())
    assert job["status"] == "ok", job
    assert job["device"]["arch"] == "aarch64" and job["device"]["python_version"].startswith("3.11")
    assert job["runtime"]["name"] == "onnxruntime" and job["device_class"] == "android"
    assert job["host"]["workdir"].startswith("/data/local/edgebench/jobs/")
    print("adb python-agent mode on the aarch64 board: push %.2f s (%d bytes), exec %.2f s"
          % (job["host"]["push_s"], job["host"]["bytes_pushed"], job["host"]["exec_s"]))
