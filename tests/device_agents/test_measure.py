"""The timed window's stopping rules, run by the agent as a device runs it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import agent_job, quick_measure


def _job(tiny_onnx: Path, **measure) -> dict:
    return {"job_id": "t", "model": {"path": str(tiny_onnx)}, "runtime": {"name": "onnxruntime", "options": {"threads": 1}},
            "measure": quick_measure(sample_rate_hz=0, **measure)}


def test_target_ci_runs_until_the_median_is_that_precise(tmp_path: Path, tiny_onnx: Path) -> None:
    result = agent_job(tmp_path, _job(tiny_onnx, min_runs=20, target_ci_pct=2.0, max_seconds=20, max_runs=10**6))
    assert result["status"] == "ok", result
    t = result["timing"]
    assert t["stop_reason"].startswith("target CI met"), t
    assert t["ci95_half_width_pct"] <= 2.0 and t["target_ci_pct"] == 2.0
    # the host's figure from the stored samples agrees with the agent's stopping figure
    from bench.analysis.stats import summarize

    s = summarize(result["latencies_ms"])
    lo, hi = s["p50_ci95_ms"]
    assert (hi - lo) / 2 / s["p50_ms"] * 100 <= 2.0 + 1e-9


def test_an_unreachable_target_stops_at_the_cap_and_says_so(tmp_path: Path, tiny_onnx: Path) -> None:
    result = agent_job(tmp_path, _job(tiny_onnx, target_ci_pct=1e-6, max_seconds=0.5, max_runs=10**6))
    t = result["timing"]
    assert t["stop_reason"].startswith("max_seconds reached before the target CI"), t
    assert t["window_s"] < 2.0 and t["ci95_half_width_pct"] > 1e-6
    from bench.analysis.stats import summarize
    from bench.analysis.validity import verdict

    v = verdict(result, summarize(result["latencies_ms"]))
    assert "target_ci_not_met" in [w["code"] for w in v["warnings"]] and not v["valid"]


def test_result_carries_conditions_and_window_clocks(tmp_path: Path, tiny_onnx: Path) -> None:
    result = agent_job(tmp_path, _job(tiny_onnx, min_seconds=0.3, max_runs=10**6, pin_cores=[0]))
    cond = result["conditions"]
    assert cond["during"]["cores"] == [0] and cond["during"]["seconds"] > 0.25, (cond, result["timing"])
    assert cond["during"]["self_cpu_s"] > 0.1  # the job itself kept its core busy
    assert 0 <= cond["during"]["other_busy_cores"] <= 1.0
    assert cond["before"]["loadavg_1m"] is not None and "load_and_warmup" in cond
    # this machine has no cpufreq and no thermal zones: null with the reason, never a guess
    if cond["during"]["cpu_freq_mhz"] is None:
        assert "cpufreq" in cond["during"]["cpu_freq_mhz_reason"]
    t = result["timing"]
    assert abs(t["window_s"] - t["window_wall_s"]) < 0.05
