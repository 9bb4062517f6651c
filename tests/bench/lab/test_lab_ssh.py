"""Two lab hosts: one owns the local device, the other two SSH devices — real sshd servers in network
namespaces behind the guard of ../shared/TESTBED.md (the guard's drop counter must stay 0). One matrix over all
three devices lands each job on its device's worker, over its device's transport."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.bench.lab.conftest import QUICK, Lab
from tests.netns import have_netns, ssh_lab
from tests.sshd import Keys, have_sshd

pytestmark = [pytest.mark.skipif(not (have_sshd() and have_netns()), reason="needs root, sshd, iproute2, nft"),
              pytest.mark.slow]


def test_matrix_over_local_and_ssh_namespace_hosts(lab: Lab, tiny_onnx: Path) -> None:
    with ssh_lab([41, 42], Keys.make(lab.tmp / "keys"), lab.tmp) as (hosts, servers, known):
        lab.add_local("loc1")
        for i, s in enumerate(servers, start=1):
            lab.add_yaml(s.device_yaml("dut%d" % i, sys.executable, str(lab.tmp / ("dut%d-root" % i)), known))
        host_a = lab.start_worker("loc1")
        host_b = lab.start_worker("dut1,dut2")
        assert {lab.device(d)["transport"] for d in ("dut1", "dut2")} == {"ssh"}
        run_id = lab.submit("--device", "loc1,dut1,dut2", *lab.models(tiny_onnx, ["n1", "n2"]), *QUICK)
        proc = lab.wait(run_id)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        results = lab.results(run_id)
        assert sorted(r["device_name"] for r in results) == ["dut1", "dut1", "dut2", "dut2", "loc1", "loc1"]
        for r in results:
            assert r["status"] == "ok" and r["lab"]["worker"].split("@")[0] == r["device_name"]
            if r["device_name"].startswith("dut"):
                assert r["host"]["workdir"].startswith(str(lab.tmp / ("%s-root" % r["device_name"])))
        # the SSH host goes down: its worker quarantines both devices; the local one stays healthy
        for h in hosts:
            h.block_ssh("reject with tcp reset")
        lab.wait_until(lambda: all(lab.device(d)["state"] == "quarantined" for d in ("dut1", "dut2")), 60,
                       "SSH devices quarantined")
        assert lab.device("loc1")["state"] == "healthy"
        for h in hosts:
            h.unblock_ssh()
        lab.wait_until(lambda: all(lab.device(d)["state"] == "healthy" for d in ("dut1", "dut2")), 60,
                       "SSH devices restored")
        lab.stop(host_b)
        lab.stop(host_a)
