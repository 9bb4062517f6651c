"""Several SSH devices at once, each a real sshd in its own network namespace, and a device-side
link fault. Guarded as ../shared/TESTBED.md says; the guard's drop counter must stay at 0."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.bench.cli.test_cli_run import QUICK, bench, only_run, start_run, wait_for_result
from tests.netns import have_netns, ssh_lab
from tests.sshd import Keys, have_sshd

pytestmark = [pytest.mark.skipif(not (have_sshd() and have_netns()), reason="needs root, sshd, iproute2, nft"),
              pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("lab")
    with ssh_lab([11, 12], Keys.make(work / "keys"), work) as (hosts, servers, known):
        yield hosts, servers, known, work


def devices_yaml(tmp_path: Path, servers, known: Path) -> None:
    body = "".join(s.device_yaml("ns%d" % i, sys.executable, str(tmp_path / ("root%d" % i)), known)
                   for i, s in enumerate(servers, start=1))
    body = body.replace("options: {known_hosts:", "options: {tcp_user_timeout_s: 4, known_hosts:")
    (tmp_path / "devices.yaml").write_text("devices:\n" + body)


def test_two_namespace_hosts_in_parallel(tmp_path: Path, lab, tiny_onnx: Path) -> None:
    hosts, servers, known, _ = lab
    devices_yaml(tmp_path, servers, known)
    proc = bench(["run", "--device", "ns1,ns2", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run(tmp_path / "results")
    results = [json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")]
    assert sorted(r["device_name"] for r in results) == ["ns1", "ns2"]
    assert all(r["status"] == "ok" and r["host"]["bytes_pushed"] > 0 for r in results)


def test_device_link_down_mid_run_then_resume(tmp_path: Path, lab, zoo_default) -> None:
    hosts, servers, known, _ = lab
    devices_yaml(tmp_path, servers, known)
    proc = start_run(tmp_path, zoo_default["onnx-fp32"].path, 2,
                     ["--device", "ns1,ns2", "--runs", "5", "--min-seconds", "3", "--job-timeout", "40"])
    try:
        wait_for_result(tmp_path / "results", "ns2", 90)
        time.sleep(0.5)
        hosts[1].link(False)
        t_down = time.monotonic()
        out, err = proc.communicate(timeout=120)
    finally:
        hosts[1].link(True)
    assert proc.returncode == 1, out + err
    line = next(ln for ln in out.splitlines() if "ns2" in ln and "ERROR" in ln)
    assert "(transport)" in line or "(timeout)" in line
    assert time.monotonic() - t_down < 60  # ended within the deadlines, not TCP's minutes
    run = only_run(tmp_path / "results")
    results = [json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")]
    assert sum(1 for r in results if r["device_name"] == "ns1" and r["status"] == "ok") == 2
    time.sleep(1)
    resumed = bench(["run", "--resume", run.name])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert all(json.loads(p.read_text())["status"] == "ok" for p in (run / "jobs").glob("*.json"))
