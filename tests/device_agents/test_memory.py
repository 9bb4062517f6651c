"""Per-phase peak memory over the baseline, read from /proc/self/status."""

from __future__ import annotations

import numpy as np

from device_agents.memory import MemoryTracker


def test_phase_peaks_see_an_allocation_and_reset() -> None:
    tracker = MemoryTracker()
    tracker.start()
    block = np.ones(64 * 1024 * 1024, dtype=np.uint8)  # 64 MiB, touched
    block[::4096] = 2
    del block
    tracker.end_phase("load")
    tracker.end_phase("idle")
    out = tracker.to_json()
    load, idle = out["phases"]
    assert load["peak_over_baseline_bytes"] >= 60 * 1024 * 1024
    assert out["peak_over_baseline_bytes"] >= 60 * 1024 * 1024
    if tracker.resettable:  # Linux: VmHWM reset per phase, so the idle phase does not inherit the peak
        assert idle["peak_over_baseline_bytes"] < 32 * 1024 * 1024
        assert "clear_refs" in out["method"]
