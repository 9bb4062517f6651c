"""The lab thread's watch: a heartbeat stuck past the lease's TTL is said once, with where it waits (the log is
how a lab owner learns why a device hands every job back). A real thread, stuck in a real blocking read."""

from __future__ import annotations

import logging
import os
import threading
import time
from types import SimpleNamespace

import pytest

from bench.lab import records
from bench.lab.worker import LabRuntime


def test_a_stuck_heartbeat_is_said_once_with_the_call_it_waits_in(caplog) -> None:
    timings = records.Timings(heartbeat_s=0.05, alive_ttl_s=0.3, lost_after_s=0.3, health_s=30)
    rt = LabRuntime(SimpleNamespace(name="dev1"), "redis://127.0.0.1:9/0", timings)  # never contacted here
    read_end, write_end = os.pipe()

    def stuck_tick() -> None:
        rt.tick_since = time.monotonic()
        os.read(read_end, 1)  # what the probe's Popen waited in
        rt.tick_since = None

    rt.thread = threading.Thread(target=stuck_tick, daemon=True)
    watcher = threading.Thread(target=rt.watch, daemon=True)
    with caplog.at_level(logging.ERROR, logger="edgebench.lab"):
        rt.thread.start()
        watcher.start()
        time.sleep(1.0)
        os.write(write_end, b"x")
        rt.thread.join(5)
        rt.stop.set()
        watcher.join(5)
    os.close(read_end)
    os.close(write_end)
    said = [r.getMessage() for r in caplog.records if "no heartbeat" in r.getMessage()]
    assert len(said) == 1, said
    assert "device dev1" in said[0] and "lease lapses after" in said[0] and "os.read(read_end, 1)" in said[0]


def test_a_probe_longer_than_the_lease_keeps_the_heartbeat_going(monkeypatch) -> None:
    """An SSH device that is down makes the probe wait its connect timeout (10 s, the TTL is 10 s): the heartbeat
    is written meanwhile, the probe's answer (or its error) comes back as before."""
    from bench.lab import worker
    from bench.lab.health import Health

    timings = records.Timings(heartbeat_s=0.1, alive_ttl_s=0.5, lost_after_s=0.5, health_s=30)
    rt = LabRuntime(SimpleNamespace(name="dev1"), "redis://127.0.0.1:9/0", timings)
    beats = []
    monkeypatch.setattr(rt, "beat", lambda: beats.append(time.monotonic()))
    monkeypatch.setattr(worker, "probe", lambda device: time.sleep(1.5) or Health(ok=False, reason="down", probe_s=1.5))
    assert rt.probe_beating().reason == "down"
    # every 0.1 s while the probe runs; bounds loose enough for a loaded 2-core machine, none without beating
    assert len(beats) >= 3 and max(b - a for a, b in zip(beats, beats[1:])) < 1.0, beats

    def broken(device):
        raise RuntimeError("probe broke")

    monkeypatch.setattr(worker, "probe", broken)
    with pytest.raises(RuntimeError, match="probe broke"):
        rt.probe_beating()


def test_a_probe_that_never_ends_quarantines_the_device_saying_where_it_hangs(monkeypatch, caplog) -> None:
    """Given up after PROBE_GIVE_UP_S: quarantined, the log says where it hangs, no second probe starts while it
    still hangs (the next tick says so), and once it ends probing starts again."""
    from bench.lab import worker
    from bench.lab.health import Health

    timings = records.Timings(heartbeat_s=0.05, alive_ttl_s=0.5, lost_after_s=0.5, health_s=30)
    rt = LabRuntime(SimpleNamespace(name="dev1"), "redis://127.0.0.1:9/0", timings)
    monkeypatch.setattr(rt, "beat", lambda: None)
    monkeypatch.setattr(worker, "PROBE_GIVE_UP_S", 0.5)
    read_end, write_end = os.pipe()
    started = []

    def hanging(device):
        started.append(1)
        os.read(read_end, 1)

    monkeypatch.setattr(worker, "probe", hanging)
    try:
        with caplog.at_level(logging.ERROR, logger="edgebench.lab"):
            health = rt.probe_beating()
        assert not health.ok and "health probe did not end within" in health.reason
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 1 and "health probe has not ended" in said[0] and "os.read(read_end, 1)" in said[0], said
        again = rt.probe_beating()
        assert not again.ok and "still has not ended" in again.reason and len(started) == 1
    finally:
        os.write(write_end, b"x")
        rt.hung_probe.join(5)
        os.close(read_end)
        os.close(write_end)
    monkeypatch.setattr(worker, "probe", lambda device: Health(ok=True, reason=None, probe_s=0.0))
    assert rt.probe_beating().ok


def test_a_lease_lost_while_the_probe_ran_ends_the_tick(monkeypatch) -> None:
    """The heartbeat written during a probe found the lease taken (go_stale): that tick applies nothing more —
    no queue changes, no sweeps — as a worker that no longer owns the device."""
    from bench.lab import worker
    from bench.lab.health import Health

    timings = records.Timings(heartbeat_s=0.05, alive_ttl_s=0.5, lost_after_s=0.5, health_s=0)
    rt = LabRuntime(SimpleNamespace(name="dev1"), "redis://127.0.0.1:9/0", timings)
    monkeypatch.setattr(rt, "beat", lambda: None)
    monkeypatch.setattr(rt, "busy", lambda: False)
    monkeypatch.setattr(worker, "store_problem", lambda: None)
    applied = []
    monkeypatch.setattr(rt, "apply_health", lambda: applied.append(1))

    def probe_losing_the_lease():
        worker.STALE["why"] = "its lease was taken"  # what go_stale records
        return Health(ok=True, reason=None, probe_s=0.0)

    monkeypatch.setattr(rt, "probe_beating", probe_losing_the_lease)
    try:
        rt.tick()
    finally:
        worker.STALE.clear()
    assert applied == [] and rt.health.reason == "not probed yet"
