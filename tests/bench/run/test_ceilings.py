"""Ceilings that can be trusted: provenance, staleness, suspicion, atomic and crash-tolerant cache."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from bench.analysis.ceilings import assess, read_cache, roof_check, stale_reasons, write_atomic
from bench.run.ceilings import cache_path, measure
from bench.plan.inventory import local_device
from bench.transports import open_transport

STATE = {"agent_version": "0.1.0", "runtime_versions": {"onnxruntime": "1.32.0", "litert": "2.3"},
         "numpy_version": "2.4.6", "governors": ["performance"], "power_mode": None, "cpu_model": "AMD EPYC"}


def ceilings(**extra: Any) -> Dict[str, Any]:
    c = {"measured_at_unix_s": time.time() - 3600, "state": dict(STATE), "trust": {"trusted": True, "reasons": []},
         "compute": [{"runtime": "onnxruntime", "precision": "fp32", "gops": 100.0, "spread_rel": 0.02}],
         "bandwidth": {"triad_gbps": 20.0, "spread_rel": 0.03, "llc_bytes": 32 * 2**20}}
    c.update(extra)
    return c


def job(flops: float, weight_bytes: float, p50_ms: float, variant: str = "onnx-fp32") -> Dict[str, Any]:
    return {"status": "ok", "job_id": "j", "variant": variant, "runtime_name": "onnxruntime",
            "stats": {"p50_ms": p50_ms, "p50_ci95_ms": [p50_ms * 0.99, p50_ms * 1.01]},
            "plan": {"artifact": {"stats": {"flops": flops, "weight_bytes": weight_bytes, "activation_bytes": 0}}}}


def test_fresh_cache_of_the_same_device_state_is_not_stale() -> None:
    assert stale_reasons(ceilings(), dict(STATE)) == []


@pytest.mark.parametrize("change, expect", [
    ({"measured_at_unix_s": time.time() - 30 * 86400}, "days ago"),
    ({"state": dict(STATE, runtime_versions={"onnxruntime": "1.31.0", "litert": "2.3"})}, "runtime versions changed"),
    ({"state": dict(STATE, governors=["powersave"])}, "CPU governor changed"),
    ({"state": dict(STATE, power_mode="nvpmodel pmode:0002")}, "power mode changed"),
    ({"trust": {"trusted": False, "reasons": ["other processes used 60 % of the cores"]}}, "not trusted"),
    ({"suspect": [{"reason": "j ran at 180 % of its compute roof"}]}, "marked suspect"),
    ({"state": None}, "before ceilings recorded"),
])
def test_stale_reasons(change: Dict[str, Any], expect: str) -> None:
    reasons = stale_reasons(ceilings(**change), dict(STATE))
    assert any(expect in r for r in reasons), reasons


def test_assess_flags_unstable_or_contended_measurements() -> None:
    assert assess(ceilings())["trusted"]
    unstable = ceilings(compute=[{"runtime": "onnxruntime", "precision": "fp32", "gops": 90.0, "stable": False,
                                  "spread_rel": 0.5}])
    assert "still moving by 50 %" in assess(unstable)["reasons"][0]
    busy = ceilings(conditions={"during": {"cores": [0, 1], "other_busy_cores": 1.0, "steal_cores": 0.0,
                                           "top_other_processes": [{"name": "python", "pid": 7}]}})
    verdict = assess(busy)
    assert not verdict["trusted"] and "50 %" in verdict["reasons"][0] and "python (pid 7)" in verdict["reasons"][0]


def test_above_the_compute_roof_is_suspect() -> None:
    # AI = 1e9 / 1e6 = 1000 FLOP/B > ridge 5: compute-bound; 1 GFLOP in 5 ms = 200 GFLOP/s vs a 100 peak
    out = roof_check(job(1e9, 1e6, 5.0), ceilings())
    assert out and out["bound"] == "compute" and out["efficiency"] == pytest.approx(2.0)
    assert "too low" in out["reason"] and "onnxruntime/fp32" in out["reason"]


def test_within_noise_is_not_suspect() -> None:
    assert roof_check(job(1e9, 1e6, 10.5), ceilings()) is None  # 95 % of the roof
    assert roof_check(job(1e9, 1e6, 9.5), ceilings()) is None   # 105 %: inside 2 % + 1 % + 5 %


def test_above_the_dram_roof_is_suspect_only_when_the_bytes_do_not_fit_the_llc() -> None:
    # ridge = 100 / 20 = 5 FLOP/B; AI = 5e7 / 2e7 = 2.5: memory-bound, roof 50 G/s; 0.5 ms -> 100 G/s (200 %)
    fits = job(5e7, 2e7, 0.5)
    assert roof_check(fits, ceilings()) is None  # 20 MB fit the 32 MiB LLC: served from cache, expected
    small_llc = ceilings(bandwidth={"triad_gbps": 20.0, "spread_rel": 0.03, "llc_bytes": 8 * 2**20})
    out = roof_check(fits, small_llc)
    assert out and out["bound"] == "memory" and "STREAM bandwidth" in out["reason"] and "> LLC" in out["reason"]
    unknown = ceilings(bandwidth={"triad_gbps": 20.0, "spread_rel": 0.03, "llc_bytes": None})
    assert roof_check(fits, unknown)["bound"] == "memory"


def test_truncated_cache_is_treated_as_absent_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "ceilings" / "local-abc.json"
    write_atomic(path, ceilings())
    assert read_cache(path, lambda s: None)["state"] == STATE
    assert [p.name for p in path.parent.iterdir()] == ["local-abc.json"]  # no temporary left behind
    path.write_text(path.read_text()[:200])  # a crash mid-write of the old, non-atomic code
    lines: List[str] = []
    assert read_cache(path, lines.append) is None
    assert len(lines) == 1 and "unreadable" in lines[0] and "measuring again" in lines[0]


def test_a_truncated_cache_does_not_break_a_later_measurement(tmp_path: Path, monkeypatch) -> None:
    """Issue 9 item 6, through the real agent on this machine (a small bandwidth-only microbenchmark)."""
    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path))
    device = local_device()
    path = cache_path(device, [])
    path.parent.mkdir(parents=True)
    path.write_text('{"compute": [], "bandwid')  # truncated
    lines: List[str] = []
    small = {"bandwidth": {"array_bytes": 4 * 2**20, "repeats": 2, "sweep": False, "max_trials": 3}}
    transport = open_transport(device)
    try:
        data = measure(device, transport, mode="keep", log=lines.append, items=[], job_extra=small)
    finally:
        transport.close()
    assert data["bandwidth"]["triad_gbps"] > 0 and not data["cached"]
    assert any("unreadable" in ln for ln in lines)
    stored = json.loads(path.read_text())  # rewritten whole, with its provenance
    assert stored["measured_at"] and stored["state"]["runtime_versions"] and "trust" in stored
    assert "other_busy_cores" in stored["conditions"]["during"]


def test_an_untrusted_ceiling_is_kept_on_a_busy_device_and_for_an_hour() -> None:
    """Issue 25: an untrusted ceiling was measured again on every run (a minute each) and was still untrusted."""
    from bench.analysis.ceilings import keep_untrusted

    now = 1_000_000.0
    cached = {"measured_at_unix_s": now - 7200, "trust": {"trusted": False, "reasons": ["peak still moving"]}}
    untrusted = ["not trusted when measured: peak still moving"]
    busy = {"busy_now": {"share": 0.6}}
    quiet = {"busy_now": {"share": 0.02}}
    assert "busy now" in keep_untrusted(cached, untrusted, busy, now)
    assert keep_untrusted(cached, untrusted, quiet, now) is None  # quiet and older than an hour: measure again
    assert "min ago" in keep_untrusted(dict(cached, measured_at_unix_s=now - 600), untrusted, quiet, now)
    # stale for a reason a new measurement fixes: always measured again
    assert keep_untrusted(cached, untrusted + ["numpy version changed: 1 -> 2"], busy, now) is None
    assert keep_untrusted(cached, [], busy, now) is None  # nothing wrong: nothing to keep


def test_a_remeasure_is_compared_with_the_previous_one_and_the_spread_kept() -> None:
    """Issue 26: a re-measure overwrote the cache without comparing (a 'trusted' peak 14 % below the two before)."""
    from bench.analysis.ceilings import across_measurements, figures_history

    def measurement(gops: float, triad: float, when: str) -> dict:
        return {"measured_at": when, "compute": [{"runtime": "onnxruntime", "precision": "fp32", "gops": gops}],
                "bandwidth": {"triad_gbps": triad}, "trust": {"trusted": True}}

    first = measurement(100.0, 10.0, "a")
    second = dict(measurement(101.0, 10.0, "b"), history=figures_history(first, measurement(101.0, 10.0, "b")))
    third = measurement(86.0, 10.5, "c")
    hist = figures_history(second, third)
    assert [h["measured_at"] for h in hist] == ["a", "b", "c"]
    figs = {f["figure"]: f for f in across_measurements(hist)}
    ort = figs["onnxruntime/fp32"]
    assert ort["n"] == 3 and ort["latest"] == 86.0
    assert ort["change_vs_previous_rel"] == pytest.approx(86.0 / 101.0 - 1)
    assert ort["spread_rel"] == pytest.approx((101.0 - 86.0) / 100.0)
    assert figs["triad"]["unit"] == "GB/s"
    many = first
    for i in range(15):
        many = dict(measurement(100.0 + i, 10.0, str(i)), history=figures_history(many, measurement(100.0 + i, 10.0, str(i))))
    assert len(many["history"]) == 10  # bounded
