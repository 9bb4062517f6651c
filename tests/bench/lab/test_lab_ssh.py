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
        lab.wait_until(lambda: all((lab.device(d) or {}).get("state") == "quarantined" for d in ("dut1", "dut2")), 60,
                       "SSH devices quarantined")
        assert lab.device("loc1")["state"] == "healthy"
        for h in hosts:
            h.unblock_ssh()
        lab.wait_until(lambda: all(lab.device(d)["state"] == "healthy" for d in ("dut1", "dut2")), 60,
                       "SSH devices restored")
        lab.stop(host_b)
        lab.stop(host_a)


def test_device_vanishing_mid_run_does_not_drain_its_queue(lab: Lab, tiny_onnx: Path) -> None:
    """Issue 20: the SSH device's sshd is killed while its first job runs. The failed job is probed at once,
    the device quarantined before its worker takes another job, and the job put back (next attempt): no job is
    stored as an error while the device is away; sshd restarted, the health loop restores the device and every
    job completes; ``lab wait`` ends with 0."""
    from tests.sshd import Sshd

    with ssh_lab([43], Keys.make(lab.tmp / "keys"), lab.tmp) as (hosts, servers, known):
        lab.add_yaml(servers[0].device_yaml("dut1", sys.executable, str(lab.tmp / "dut1-root"), known))
        host = lab.start_worker("dut1")
        names = ["v%d" % i for i in range(4)]
        run_id = lab.submit("--device", "dut1", *lab.models(tiny_onnx, names), *QUICK, "--min-seconds", "1.5",
                            "--max-runs", "100000000")
        lab.wait_until(lambda: any(r["run_id"] == run_id for r in lab.status()["running"]), 90, "a job running")
        servers[0].kill()  # the device vanishes mid-job: its SSH server and every session it spawned
        lab.wait_until(lambda: lab.device("dut1")["state"] == "quarantined", 60, "dut1 quarantined")
        # while it is away: the queue holds, nothing runs, nothing is stored as an error
        lab.wait_until(lambda: lab.waiting("dut1") + len(lab.results(run_id)) == len(names), 30,
                       "every job queued or stored")
        assert all(r["status"] == "ok" for r in lab.results(run_id)), [r.get("error") for r in lab.results(run_id)]
        assert lab.status()["running"] == []
        away = lab.device("dut1")  # its reason: the failed job's, until the health loop probes again
        assert away["state"] == "quarantined" and away["queues"] == [], away
        waiting = lab.waiting("dut1")
        assert waiting >= 1
        lab.wait_until(lambda: "Connection refused" in lab.device("dut1")["reason"], 30,
                       "the health loop probed it again (still away)")
        assert lab.waiting("dut1") == waiting and all(r["status"] == "ok" for r in lab.results(run_id))
        servers[0] = Sshd(servers[0].keys, servers[0].host, 22, lab.tmp, netns=hosts[0].ns).start()
        proc = lab.wait(run_id)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        results = lab.results(run_id)
        assert sorted(r["job_id"] for r in results) == sorted(j["job_id"] for j in lab.manifest(run_id)["jobs"])
        assert all(r["status"] == "ok" for r in results), [(r["job_id"], r.get("error")) for r in results]
        back = [r for r in results if r["lab"]["attempt"] > 1]
        assert back and all("went away" in r["lab"]["resubmitted_because"] for r in back)
        log = lab.log("dut1")
        assert "quarantined after a failed job" in log and "healthy again" in log
        lab.stop(host)
