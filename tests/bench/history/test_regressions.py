"""The regression rule (bench/history/regressions.py) on hand-made points: what is flagged, what is not, and why."""

from __future__ import annotations

import datetime
from typing import Any, List, Optional

import pandas as pd

from bench.history.regressions import detect, judge, method_text, regressions


def points(p50s: List[float], half_width: Optional[float] = 0.01, valid: Optional[List[Any]] = None,
           key: str = "k") -> pd.DataFrame:
    t0 = datetime.datetime(2026, 1, 1)
    rows = []
    for i, p in enumerate(p50s):
        rows.append({"config_key": key, "run_id": "run%02d" % i, "time_utc": t0 + datetime.timedelta(days=i),
                     "p50_ms": p, "p50_ci95_low_ms": None if half_width is None else p * (1 - half_width),
                     "p50_ci95_high_ms": None if half_width is None else p * (1 + half_width),
                     "valid": True if valid is None else valid[i],
                     "validity_warnings": None if valid is None or valid[i] is not False else "high_cv"})
    return pd.DataFrame(rows)


def test_a_step_is_flagged_at_its_first_run_then_becomes_the_baseline() -> None:
    out = detect(points([10, 10.2, 9.9, 10.1, 13, 13.1, 12.9, 13, 13.1]))
    assert list(out["verdict"]) == ["baseline", "baseline", "ok", "ok", "slower", "slower", "slower", "ok", "ok"]
    first = out.iloc[4]
    assert abs(first["baseline_p50_ms"] - 10.05) < 1e-9 and abs(first["change_pct"] - 29.35) < 0.1
    assert first["band_pct"] == 10.0 and "CI95 low" in first["why"]
    assert list(regressions(out)["run_id"]) == ["run04", "run05", "run06"]


def test_within_the_band_or_overlapping_cis_is_not_a_regression() -> None:
    assert list(detect(points([10, 10, 10, 10.9]))["verdict"])[-1] == "ok"  # +9 %: inside the 10 % band
    wide = detect(points([10, 10, 10, 11.5], half_width=0.2))  # +15 % but the CIs overlap
    assert wide.iloc[-1]["verdict"] == "ok" and "overlap" in wide.iloc[-1]["why"]


def test_a_noisy_history_widens_the_band() -> None:
    # run-to-run spread ~15 %: band = 3 x 1.4826 x MAD / median, far above 10 %
    out = detect(points([10, 11.5, 8.5, 10, 11.5, 12.5]))
    last = out.iloc[-1]
    assert last["band_pct"] > 40 and last["verdict"] == "ok"
    assert judge(20.0, 19.8, 20.2, [{"p50": 10, "low": 9.9, "high": 10.1}] * 3)["verdict"] == "slower"


def test_invalid_runs_neither_trigger_nor_hide_nor_enter_the_baseline() -> None:
    # an invalid slow run is shown as invalid (with what it would have been), not flagged
    out = detect(points([10, 10, 10, 20], valid=[True, True, True, False]))
    assert out.iloc[-1]["verdict"] == "invalid" and "would be: slower" in out.iloc[-1]["why"]
    assert regressions(out).empty
    # invalid fast runs in the history do not pull the baseline down (which would hide or fake a change)
    out = detect(points([10, 3, 3, 10, 10.2, 10.1], valid=[True, False, False, True, True, True]))
    assert list(out["verdict"]) == ["baseline", "invalid", "invalid", "baseline", "ok", "ok"]
    assert out.iloc[-1]["baseline_runs"] == 3


def test_no_verdict_stored_is_judged_and_missing_ci_is_not_confirmed() -> None:
    out = detect(points([10, 10, 10, 15], valid=[None, None, None, None]))
    assert out.iloc[-1]["verdict"] == "slower"
    out = detect(points([10, 10, 10, 15], half_width=None))
    assert out.iloc[-1]["verdict"] == "no CI"


def test_faster_configs_are_separate_and_method_is_stated() -> None:
    both = pd.concat([points([10, 10, 10, 7], key="a"), points([5, 5, 5, 5], key="b")], ignore_index=True)
    out = detect(both)
    assert out[out.config_key == "a"].iloc[-1]["verdict"] == "faster"
    assert set(out[out.config_key == "b"]["verdict"]) == {"baseline", "ok"}
    assert "10 %" in method_text() and "rolling median of the last 5" in method_text()
    assert detect(points([])).empty
