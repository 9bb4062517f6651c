"""The conditions record against real load: a busy process on the core is seen, named and measured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device_agents.conditions import ConditionsRecorder, Snapshot, cool_down, interval


@pytest.mark.serial  # counts other processes on a core: alone
@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs procfs")
def test_a_busy_process_on_the_core_is_counted_and_named() -> None:
    core = sorted(os.sched_getaffinity(0))[-1]
    hog = subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-c", "while 1: pass"])
    try:
        time.sleep(0.3)
        a = Snapshot([core])
        time.sleep(1.0)
        b = Snapshot([core])
    finally:
        hog.kill()
        hog.wait()
    out = interval(a, b)
    # the hog kept its core busy while we slept: alone it takes ~1 core; on a host loaded by other work it still
    # gets a fair share of it (a property of the count, not a timing: 0.3 holds with two other busy processes)
    assert out["other_busy_cores"] > 0.3
    assert out["self_cpu_s"] < 0.1
    hog_row = next(p for p in out["top_other_processes"] if p["pid"] == hog.pid)  # counted, and named
    assert hog_row["cores"] > 0.3 and hog_row["name"]


def test_recorder_without_a_window_says_why() -> None:
    rec = ConditionsRecorder([0])
    rec.mark("before")
    out = rec.record()
    assert out["before"]["loadavg_1m"] is not None and out["during"] is None and out["during_reason"]


def test_cool_down_waits_for_the_zone(tmp_path: Path) -> None:
    """Stand-in: a thermal zone laid out like sysfs (m°C in .../thermal_zone0/temp) that a thread cools."""
    import threading

    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("72000\n")
    threading.Timer(0.5, lambda: (zone / "temp").write_text("55000\n")).start()
    out = cool_down(60.0, 5.0, poll_s=0.1, thermal_root=str(tmp_path))
    assert out["reached"] is True and out["start_max_c"] == 72.0 and out["end_max_c"] == 55.0
    assert 0.4 < out["waited_s"] < 3.0
    (zone / "temp").write_text("90000\n")
    capped = cool_down(60.0, 0.3, poll_s=0.1, thermal_root=str(tmp_path))
    assert capped["reached"] is False and capped["waited_s"] >= 0.3
    none = cool_down(60.0, 1.0, thermal_root=str(tmp_path / "absent"))
    assert none["reached"] is None and "cannot gate" in none["reason"]
