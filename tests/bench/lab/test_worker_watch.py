"""The lab thread's watch: a heartbeat stuck past the lease's TTL is said once, with where it waits (the log is
how a lab owner learns why a device hands every job back). A real thread, stuck in a real blocking read."""

from __future__ import annotations

import logging
import os
import threading
import time
from types import SimpleNamespace

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
    said = [r.getMessage() for r in caplog.records if "lab thread" in r.getMessage()]
    assert len(said) == 1, said
    assert "device dev1" in said[0] and "lease lapses after" in said[0] and "os.read(read_end, 1)" in said[0]
    os.close(read_end)
    os.close(write_end)
