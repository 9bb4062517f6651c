"""Where and in what order jobs run: only on their device's worker, one at a time per device, users
interleaved, higher priority first. Real Redis, real Celery workers, tiny real jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest

from tests.bench.lab.conftest import QUICK, Lab

pytestmark = pytest.mark.slow


def by_start(results: List[Dict]) -> List[Dict]:
    return sorted(results, key=lambda r: r["lab"]["started_at_unix_s"])


def test_jobs_land_only_on_their_devices_worker_one_at_a_time(lab: Lab, tiny_onnx: Path) -> None:
    """Two lab hosts (two `lab worker` processes), two devices, three jobs each: every result comes from its
    device's worker process, and the jobs of one device never overlap in time."""
    lab.add_local("loc1")
    lab.add_local("loc2")
    lab.start_worker("loc1")
    lab.start_worker("loc2")
    pids = {d: lab.device(d)["pid"] for d in ("loc1", "loc2")}
    run_id = lab.submit("--device", "loc1,loc2", *lab.models(tiny_onnx, ["m1", "m2", "m3"]), *QUICK)
    proc = lab.wait(run_id)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = lab.results(run_id)
    assert len(results) == 6 and all(r["status"] == "ok" for r in results)
    for device in ("loc1", "loc2"):
        mine = by_start([r for r in results if r["device_name"] == device])
        assert len(mine) == 3
        assert {r["lab"]["worker"].split("@")[0] for r in mine} == {device}
        assert {r["lab"]["worker_pid"] for r in mine} == {pids[device]}
        assert all(r["host"]["workdir"].startswith(str(lab.tmp / ("wd-" + device))) for r in mine)
        for a, b in zip(mine, mine[1:]):  # never two at once on a device
            assert a["lab"]["finished_at_unix_s"] <= b["lab"]["started_at_unix_s"], (a["job_id"], b["job_id"])
    assert "loc1@" in lab.log("loc1") and "loc2--" not in lab.log("loc1")


def test_two_submitters_interleave(lab: Lab, tiny_onnx: Path) -> None:
    """Ann queues three jobs, then Bob three, before the device's worker starts: they run a, b, a, b, a, b."""
    lab.add_local("loc1")
    ann = lab.submit("--device", "loc1", "--user", "ann", "--offline-ok", *lab.models(tiny_onnx, ["a1", "a2", "a3"]),
                     *QUICK)
    bob = lab.submit("--device", "loc1", "--user", "bob", "--offline-ok", *lab.models(tiny_onnx, ["b1", "b2", "b3"]),
                     *QUICK)
    queued = {q["user"]: q["waiting"] for q in lab.status()["queues"] if q["device"] == "loc1"}
    assert queued == {"-": 0, "ann": 3, "bob": 3}
    lab.start_worker("loc1")
    for run_id in (ann, bob):
        proc = lab.wait(run_id)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    order = [r["lab"]["user"] for r in by_start(lab.results(ann) + lab.results(bob))]
    assert order in (["ann", "bob"] * 3, ["bob", "ann"] * 3), order


def test_priority_honoured(lab: Lab, tiny_onnx: Path) -> None:
    """A low-priority matrix queued first, then a high-priority one (another user and the same user): the
    high-priority jobs all start before the remaining low ones."""
    lab.add_local("loc1")
    low = lab.submit("--device", "loc1", "--user", "ann", "--priority", "1", "--offline-ok",
                     *lab.models(tiny_onnx, ["l1", "l2", "l3"]), *QUICK)
    high_ann = lab.submit("--device", "loc1", "--user", "ann", "--priority", "9", "--offline-ok",
                          *lab.models(tiny_onnx, ["h1"]), *QUICK)
    high_bob = lab.submit("--device", "loc1", "--user", "bob", "--priority", "8", "--offline-ok",
                          *lab.models(tiny_onnx, ["h2"]), *QUICK)
    lab.start_worker("loc1")
    for run_id in (low, high_ann, high_bob):
        proc = lab.wait(run_id)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    order = [r["model_name"] for r in by_start(lab.results(low) + lab.results(high_ann) + lab.results(high_bob))]
    assert order[:2] == ["h1", "h2"] and sorted(order[2:]) == ["l1", "l2", "l3"], order
