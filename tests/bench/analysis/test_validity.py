"""The validity verdict, one warning type at a time, on constructed latency series (pure statistics;
the contended-job and clock-jump cases run for real in test_validity_real.py)."""

from __future__ import annotations

import warnings

from typing import Any, Dict, List, Optional

import numpy as np
import pytest

from bench.analysis.stats import summarize
from bench.analysis.validity import level_shift, modes, rounds_spread, summary_line, verdict

QUIET = {"during": {"cores": [0], "other_busy_cores": 0.01, "steal_cores": 0.0}, "before": {"loadavg_1m": 0.1}}


def result(latencies: List[float], window_s: Optional[float] = None, **extra: Any) -> Dict[str, Any]:
    x = [float(v) for v in latencies]
    finite = [v for v in x if np.isfinite(v)]
    r = {"status": "ok", "latencies_ms": x, "conditions": QUIET,
         "timing": {"window_s": window_s if window_s is not None else sum(finite) / 1000.0 * 1.01,
                    "window_wall_s": window_s if window_s is not None else sum(finite) / 1000.0 * 1.01},
         "host": {"exec_s": 3600.0}, "throttle": {"throttled": False, "evidence": []}}
    r.update(extra)
    return r


def judge(r: Dict[str, Any]) -> Dict[str, Any]:
    return verdict(r, summarize(r["latencies_ms"]))


def codes(v: Dict[str, Any]) -> List[str]:
    return [w["code"] for w in v["warnings"]]


def steady(n: int = 400, p50: float = 10.0, sd: float = 0.1, seed: int = 0) -> np.ndarray:
    """A quiet job: one narrow mode plus a light right tail (like a pinned job on an idle core)."""
    rng = np.random.default_rng(seed)
    x = p50 + np.abs(rng.normal(0.0, sd, n))
    x[rng.random(n) < 0.02] *= 1.3
    return x


def test_a_steady_series_is_valid() -> None:
    v = judge(result(steady()))
    assert v["valid"] and v["warnings"] == [], v
    assert len(v["figures"]["modes"]) == 1 and summary_line(v) == "valid"


def test_too_few_samples() -> None:
    v = judge(result([10.0, 10.1, 10.2, 10.1, 10.0]))
    assert not v["valid"] and "too_few_samples" in codes(v)


def test_high_cv() -> None:
    rng = np.random.default_rng(2)
    x = rng.lognormal(np.log(10.0), 0.45, 400)  # CV ~ 0.5, one broad mode, no drift
    v = judge(result(x))
    assert "high_cv" in codes(v) and not v["valid"]
    assert "multimodal" not in codes(v) and "level_shift" not in codes(v)


def test_wide_ci() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(8.0, 12.0, 40)  # CV 0.12 (fine) but 40 samples pin the median only to ~±7 %
    v = judge(result(x))
    assert "wide_ci" in codes(v) and "high_cv" not in codes(v)


def test_multimodal_like_the_mobilebert_case() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(55.0, 2.0, 600)
    b = rng.normal(150.0, 5.0, 400)
    x = np.empty(1000)
    x[0::2], x[1::2] = a[:500], np.concatenate([a[500:], b])[:500]  # modes interleaved: no level shift
    rng.shuffle(x)
    v = judge(result(x))
    assert "multimodal" in codes(v)
    found = modes(x)
    assert len(found) == 2 and found[0]["latency_ms"] == pytest.approx(55, rel=0.1)
    assert found[1]["latency_ms"] == pytest.approx(150, rel=0.1)


def test_a_tail_is_not_a_mode() -> None:
    rng = np.random.default_rng(5)
    x = 10.0 + rng.exponential(0.8, 2000)  # one mode with a long right tail
    assert len(modes(x)) == 1


def test_level_shift_in_the_middle_of_the_window() -> None:
    x = steady(600)
    x[300:450] *= 1.4  # a noisy neighbour for a quarter of the window
    v = judge(result(x))
    assert "level_shift" in codes(v)
    shift = level_shift(x)
    assert 280 <= shift["start_sample"] <= 320 and 430 <= shift["end_sample"] <= 470
    assert shift["shift_rel"] == pytest.approx(0.4, abs=0.05)


def test_a_step_change_is_a_level_shift() -> None:
    x = steady(600)
    x[400:] *= 0.8  # e.g. a governor raised the clock late in the window
    assert "level_shift" in codes(judge(result(x)))


def test_a_coarse_clock_with_equal_block_medians_is_no_level_shift() -> None:
    x = np.tile([0.043, 0.0435, 0.044, 0.0445, 0.045], 400)  # a timer that repeats five values
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no empty-slice median on the way
        shift = level_shift(x)
        assert "level_shift" not in codes(judge(result(x)))
    assert shift["shift_rel"] == 0.0 and shift["p_value"] == 1.0


def test_throttled() -> None:
    v = judge(result(steady(), throttle={"throttled": True, "evidence": ["cpu0 clock fell from 1479 to 918 MHz"]}))
    assert "throttled" in codes(v) and "918 MHz" in v["warnings"][0]["message"] and not v["valid"]


def test_busy_other_processes() -> None:
    busy = {"during": {"cores": [1], "other_busy_cores": 0.67, "steal_cores": 0.0,
                       "top_other_processes": [{"pid": 123, "name": "python", "cores": 0.34}]}}
    v = judge(result(steady(), conditions=busy))
    w = next(w for w in v["warnings"] if w["code"] == "busy_other_processes")
    assert not v["valid"] and "67 %" in w["message"] and "python (pid 123)" in w["message"]


def test_steal_time_counts_as_contention() -> None:
    stolen = {"during": {"cores": [0, 1], "other_busy_cores": 0.0, "steal_cores": 0.5}}
    assert "busy_other_processes" in codes(judge(result(steady(), conditions=stolen)))


def test_unknown_conditions_are_a_caution_only() -> None:
    r = result(steady())
    del r["conditions"]
    v = judge(r)
    assert v["valid"] and codes(v) == ["conditions_unknown"] and "caution" in summary_line(v)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), 0.0])
def test_insane_samples(bad: float) -> None:
    x = list(steady(100))
    x[50] = bad
    v = judge(result(x))
    assert "timing_insane" in codes(v) and not v["valid"]


def test_a_sample_longer_than_the_window() -> None:
    x = list(steady(100))
    v = judge(result(x, window_s=0.5))  # the samples alone take ~1 s
    assert "timing_insane" in codes(v)


def test_monotonic_clock_jump_of_one_hour() -> None:
    """Issue 9 item 9: a +1 h jump of the monotonic clock during one sample."""
    x = list(steady(100))
    x[40] += 3_600_000.0
    r = result(x, window_s=sum(x) / 1000 + 0.01)  # the window measured on the same (jumping) clock
    r["timing"]["window_wall_s"] = sum(steady(100)) / 1000 + 0.01  # the wall clock did not jump
    r["host"] = {"exec_s": 4.2}  # the host saw the whole agent run take seconds
    v = judge(r)
    assert not v["valid"]
    assert {"clock_jump", "timing_outlier"} <= set(codes(v)), codes(v)


def test_target_ci_not_met() -> None:
    r = result(steady())
    r["timing"].update(target_ci_pct=0.01, ci95_half_width_pct=0.4, stop_reason="max_seconds reached")
    assert "target_ci_not_met" in codes(judge(r))
    r["timing"].update(target_ci_pct=1.0)
    assert "target_ci_not_met" not in codes(judge(r))


def test_rounds_spread() -> None:
    agree = rounds_spread([10.0, 10.1, 10.05], [0.01, 0.01, 0.01])
    assert agree["agree"] and agree["between_rel"] == pytest.approx(0.01, abs=1e-3)
    # the issue's TinyBERT-4 INT8 runs: 8.53, 30.92 and 7.54 ms
    issue = rounds_spread([8.53, 30.92, 7.54], [0.02, 0.03, 0.02])
    assert issue["agree"] is False and issue["between_rel"] > 2.5
    assert rounds_spread([10.0], [0.01])["agree"] is None


def test_the_terminal_line_names_the_reasons_briefly() -> None:
    """Issue 25: an INVALID job's terminal line ran to 300-700 characters; the codes say it in a few words (the
    messages with their figures stay in the report)."""
    from bench.analysis.validity import short_line

    validity = {"valid": False, "warnings": [
        {"code": "wide_ci", "severity": "invalid", "message": "the median's 95 % CI is 17.3 % of it wide " * 3},
        {"code": "level_shift", "severity": "invalid", "message": "samples 0-20 ran -23 % against the rest " * 3},
        {"code": "conditions_unknown", "severity": "caution", "message": "no procfs"}]}
    line = short_line(validity)
    assert line == "INVALID: wide_ci, level_shift" and len(line) < 100
    assert short_line({"valid": True, "warnings": []}) == "valid"
