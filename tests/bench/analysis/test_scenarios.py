"""The sustained analysis on intervals built by hand: steady state, the step (onset, size) and its cause only
from recorded evidence; the real-time boundary of a sweep."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from bench.analysis.scenarios import analyse_sustained, budget_boundary, boundary_text, find_step, rank_change


def intervals(p50s: List[float], **signals: List[Optional[float]]) -> Dict[str, Any]:
    rows = []
    for k, p in enumerate(p50s):
        row = {"t_s": 10.0 * k, "duration_s": 10.0, "n": 100, "p50_ms": p, "p90_ms": p * 1.1, "p99_ms": p * 1.3}
        for name, values in signals.items():
            row[name] = values[k]
        rows.append(row)
    return {"name": "sustained", "intervals": rows}


FLAT = [10.0, 10.1, 9.9, 10.0, 10.2, 10.0, 9.8, 10.1]
STEP = [10.0, 10.1, 9.9, 10.0, 20.2, 20.0, 19.8, 20.1]


def test_a_flat_run_has_no_step_and_nothing_to_explain() -> None:
    a = analyse_sustained(intervals(FLAT))
    assert a["onset_s"] is None and a["cause"] == "none" and a["slowdown"] == pytest.approx(1.0, abs=0.03)
    assert find_step(FLAT) is None


def test_a_step_is_found_where_it_starts_with_its_size() -> None:
    k, rel, _ = find_step(STEP)
    assert k == 4 and rel == pytest.approx(1.0, rel=0.05)
    a = analyse_sustained(intervals(STEP))
    assert a["onset_s"] == 40.0 and a["slowdown"] == pytest.approx(2.0, rel=0.05)
    assert a["first_p50_ms"] == 10.0 and a["steady_p50_ms"] == pytest.approx(20.05, rel=0.01)


def test_contention_when_other_processes_took_the_cores() -> None:
    a = analyse_sustained(intervals(STEP, other_busy_share=[0.02] * 4 + [0.9] * 4, temp_c=[50.0] * 8))
    assert a["cause"] == "contention" and "rose from 2 % to 90 %" in a["evidence"][0]


def test_thermal_when_heat_came_with_a_clock_drop_or_a_throttle_flag() -> None:
    a = analyse_sustained(intervals(STEP, temp_c=[50, 55, 60, 65, 80, 82, 82, 82],
                                    freq_mhz=[2000.0] * 4 + [1000.0] * 4, other_busy_share=[0.01] * 8))
    assert a["cause"] == "thermal" and any("CPU clock fell" in e for e in a["evidence"])
    b = analyse_sustained(intervals(STEP, temp_c=[50, 55, 60, 65, 80, 82, 82, 82],
                                    throttled=[False] * 4 + [True] * 4))
    assert b["cause"] == "thermal" and "the throttle flag was set" in b["evidence"]


def test_frequency_when_clocks_fell_without_heat() -> None:
    a = analyse_sustained(intervals(STEP, temp_c=[50.0] * 8, freq_mhz=[2000.0] * 4 + [1200.0] * 4))
    assert a["cause"] == "frequency"


def test_unknown_when_nothing_recorded_explains_it_never_a_guess() -> None:
    a = analyse_sustained(intervals(STEP, temp_c=[50.0] * 8, other_busy_share=[0.01] * 8))
    assert a["cause"] == "unknown" and "no recorded change explains it" in a["evidence"][0]


def test_a_slow_drift_without_a_step_is_still_explained_from_the_evidence() -> None:
    drift = [10.0, 10.0, 10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 13.0]
    a = analyse_sustained(intervals(drift, temp_c=[50, 52, 55, 58, 61, 64, 67, 70, 71],
                                    freq_mhz=[2000, 2000, 1900, 1800, 1700, 1600, 1550, 1500, 1500]))
    assert a["slowdown"] == pytest.approx(1.3, rel=0.02) and a["cause"] == "thermal"


def test_the_ranking_at_the_start_is_not_the_ranking_at_steady_state() -> None:
    rows = [{"model": "a", "first_p50_ms": 196.0, "steady_p50_ms": 400.0},
            {"model": "b", "first_p50_ms": 250.0, "steady_p50_ms": 250.0}]
    ranked = {r["model"]: r for r in rank_change(rows)}
    assert (ranked["a"]["rank_start"], ranked["a"]["rank_steady"], ranked["a"]["changed"]) == (1, 2, "yes")


def test_the_real_time_boundary_is_the_largest_value_meeting_the_budget() -> None:
    rows = [{"device": "d", "model": "m", "variant": "v", "runtime": "r", "sweep": "seq-len", "sweep_value": s,
             "p99_ms": p} for s, p in ((16, 3.0), (64, 9.0), (128, 31.0), (256, 61.0), (512, 130.0))]
    (b,) = budget_boundary(rows, 33.0)
    assert (b["largest_meeting"], b["first_missing"]) == (128, 256)
    assert boundary_text(b) == "seq-len <= 128 meets p99 <= 33 ms (p99 31 ms); 256 misses (p99 61 ms)"
    (none,) = budget_boundary(rows, 1.0)
    assert none["largest_meeting"] is None and "no swept seq-len meets" in boundary_text(none)


def test_a_step_in_stages_is_placed_at_its_first_stage() -> None:
    """A hog that starts at 5 s and a second slowdown at 8 s: the onset is 5 s, not 8 (the split that best
    separates the levels, not the one with the largest median gap)."""
    staged = [11.1, 12.5, 13.6, 13.6, 13.9, 39.2, 39.9, 40.0, 47.3, 47.6, 47.5, 32.5]
    k, rel, _ = find_step(staged)
    assert k == 5 and rel > 1.5
