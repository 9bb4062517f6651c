"""Several SSH hosts in network namespaces at once, one of them an emulated aarch64 Debian board
(tests/armboard.py): the agent runs there for real, on aarch64 CPython with aarch64 onnxruntime."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.armboard import available, build_rootfs, make_python
from tests.bench.cli.test_cli_run import QUICK, bench, only_run
from tests.netns import have_netns, ssh_lab
from tests.sshd import Keys, have_sshd

pytestmark = [pytest.mark.arm, pytest.mark.slow,
              pytest.mark.skipif(not (have_sshd() and have_netns() and available()),
                                 reason="needs root, sshd, iproute2, nft, debootstrap, qemu-user-static, zstd")]


def test_arm_board_and_x86_host_in_one_run(tmp_path: Path, tiny_onnx: Path) -> None:
    cache = Path(os.environ["EDGEBENCH_CACHE"]) / "testbed"
    cache.mkdir(parents=True, exist_ok=True)
    rootfs = build_rootfs(cache, tmp_path / "arm-rootfs")
    work = tmp_path / "arm-work"
    work.mkdir()
    arm_python = make_python(rootfs, work, tmp_path)
    with ssh_lab([13, 14], Keys.make(tmp_path / "keys"), tmp_path) as (hosts, servers, known):
        arm = servers[0].device_yaml("board", str(arm_python), str(work), known, device_class="rpi")
        arm = arm.replace("options: {known_hosts:", "options: {helper_python: /usr/bin/python3, known_hosts:")
        x86 = servers[1].device_yaml("x86", sys.executable, str(tmp_path / "x86-work"), known)
        (tmp_path / "devices.yaml").write_text("devices:\n" + arm + x86)
        proc = bench(["run", "--device", "board,x86", "--model-file", str(tiny_onnx), "--ceilings", "skip",
                      "--job-timeout", "400"] + QUICK, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run(tmp_path / "results")
    res = {json.loads(p.read_text())["device_name"]: json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")}
    board = res["board"]
    assert board["status"] == "ok"
    # the board's job ran in a child forked by its warm agent (aarch64 CPython under qemu-user forks too)
    assert board["method"]["process"].startswith("a fresh process per job, forked from a warm agent"), board["method"]
    assert board["device"]["arch"] == "aarch64" and board["device"]["python_version"].startswith("3.11")
    assert board["runtime"]["version"] == res["x86"]["runtime"]["version"]
    assert res["x86"]["device"]["arch"] == "x86_64"
    assert board["outputs"][0]["shape"] == res["x86"]["outputs"][0]["shape"]
    assert abs(board["outputs"][0]["mean"] - res["x86"]["outputs"][0]["mean"]) < 1e-4  # same answer on both ISAs
    print("push/run (s): board %.2f/%.2f, x86 %.2f/%.2f" % (board["host"]["push_s"], board["host"]["exec_s"],
                                                           res["x86"]["host"]["push_s"], res["x86"]["host"]["exec_s"]))
