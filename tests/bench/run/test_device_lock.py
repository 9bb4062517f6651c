"""Two harnesses on one device never measure at the same time (the agent's device-wide lock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from device_agents.guard import user_lock_path
from tests.bench.cli.test_cli_run import REPO


@pytest.mark.slow
def test_two_runs_on_one_device_do_not_overlap(tmp_path: Path, zoo_default) -> None:
    procs = []
    for i in range(2):
        env = dict(os.environ, EDGEBENCH_RESULTS=str(tmp_path / ("results%d" % i)))
        procs.append(subprocess.Popen([sys.executable, "-m", "bench", "run", "--model-file",
                                       zoo_default["onnx-fp32"].path, "--ceilings", "skip", "--runs", "5",
                                       "--min-seconds", "2", "--sample-rate", "0"],
                                      cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
        outs.append(out)
    windows, locks = [], []
    for i in range(2):
        job = json.loads(next((tmp_path / ("results%d" % i)).glob("*/jobs/*.json")).read_text())
        windows.append((job["timing"]["window_start_unix_s"], job["timing"]["window_end_unix_s"],
                        job["device_lock"]["waited_s"]))
        locks.append(job["device_lock"]["path"])
    (a0, a1, wa), (b0, b1, wb) = windows
    assert a1 <= b0 or b1 <= a0, "measurement windows overlap: %s" % windows
    assert all(job_lock == user_lock_path() for job_lock in locks)  # the per-user lock, not a shared /tmp file
    # the one that waited said so while it waited (issue 25): the holder on its line, and the wait when done
    waiter = 0 if wa > wb else 1
    assert max(wa, wb) >= 1.0
    assert "waiting for the device lock, held by pid" in outs[waiter], outs[waiter]
    assert "waited %.0f s for the device lock" % max(wa, wb) in outs[waiter]
