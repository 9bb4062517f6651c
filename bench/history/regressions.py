"""Regressions across runs: is a run's p50 outside the band of its configuration's recent history?

For each configuration (device, model, variant, runtime, runtime options), points (one per run, from
``Catalog.points``) are taken oldest first. Each point is judged against a rolling baseline: the
``WINDOW`` (5) most recent earlier points that are not invalid.

- baseline median m = median of their p50s; baseline spread s = 1.4826 × MAD / m (robust relative SD);
- band = max(threshold, ``SPREAD_K`` × s): threshold is 10 % by default — the noise floor ``bench compare``
  uses, because on a shared host two runs of one configuration minutes apart differ by up to ~15 % — and
  it widens when the configuration's own history is noisier than that;
- **slower** (a regression) when p50 > m × (1 + band) AND the point's 95 % CI lies entirely above the
  baseline's (its low end above the median of the baseline points' CI high ends): beyond the run-to-run
  noise and beyond the measurement's own uncertainty. **faster** symmetrically (p50 < m / (1 + band) and
  the CI entirely below);
- **ok** otherwise; **baseline** while fewer than ``MIN_BASELINE`` (2) earlier usable points exist;
  **no CI** when the band is exceeded but a CI is missing (fewer than 6 samples), so it cannot be confirmed;
- **invalid**: a point whose validity verdict says not valid is never judged and never enters a baseline
  (so a noisy run can neither raise nor mask an alarm); its change against the baseline is still shown.
  A point without any verdict (results stored before verdicts existed) is judged like a valid one.

A persistent step is flagged at its first run and again until it makes up the majority of the window
(the rolling median then moves to the new level).
"""

from __future__ import annotations

from statistics import median
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 0.10
WINDOW = 5
MIN_BASELINE = 2
SPREAD_K = 3.0
MAD_TO_SD = 1.4826
VERDICT_COLUMNS = ["baseline_p50_ms", "baseline_runs", "band_pct", "change_pct", "verdict", "why"]
METHOD = ("rolling median of the last %d usable runs of the same device/model/variant/runtime/options; "
          "slower when p50 > median x (1 + band) and the run's CI95 lies above the baseline's, band = max(%s, "
          "%g x robust spread); invalid runs are neither judged nor used as baseline")


def method_text(threshold: float = DEFAULT_THRESHOLD, window: int = WINDOW) -> str:
    """The method and threshold in one sentence, for tables and reports."""
    return METHOD % (window, "%.0f %%" % (100 * threshold), SPREAD_K)


def _is_invalid(value: Any) -> bool:
    if value is None or value is pd.NA:
        return False
    try:
        if pd.isna(value):
            return False
    except (TypeError, ValueError):
        pass
    return not bool(value)


def _num(value: Any) -> Optional[float]:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def judge(p50: float, low: Optional[float], high: Optional[float], baseline: List[Dict[str, Optional[float]]],
          threshold: float = DEFAULT_THRESHOLD) -> Dict[str, Any]:
    """One point against its baseline points (each {p50, low, high}); returns the verdict columns."""
    p = [float(b["p50"]) for b in baseline]  # type: ignore[arg-type]
    m = median(p)
    spread = MAD_TO_SD * median([abs(x - m) for x in p]) / m if m > 0 else 0.0
    band = max(threshold, SPREAD_K * spread)
    highs = [b["high"] for b in baseline if b["high"] is not None]
    lows = [b["low"] for b in baseline if b["low"] is not None]
    base_high = median(highs) if highs else None  # type: ignore[arg-type]
    base_low = median(lows) if lows else None  # type: ignore[arg-type]
    change = p50 / m - 1.0 if m > 0 else None
    out: Dict[str, Any] = {"baseline_p50_ms": m, "baseline_runs": len(baseline), "band_pct": 100 * band,
                           "change_pct": 100 * change if change is not None else None}
    above = p50 > m * (1 + band)
    below = p50 < m / (1 + band)
    if above or below:
        side = "above" if above else "below"
        if (above and (low is None or base_high is None)) or (below and (high is None or base_low is None)):
            out.update(verdict="no CI", why="p50 %+.1f %% is beyond the ±%.1f %% band but a CI is missing, so it "
                       "cannot be confirmed" % (100 * change, 100 * band))
        elif above and low > base_high:  # type: ignore[operator]
            out.update(verdict="slower", why="p50 %+.1f %% vs the median of %d earlier run(s) (band %.1f %%); CI95 "
                       "low %.4g ms above the baseline's CI95 high %.4g ms" % (100 * change, len(baseline), 100 * band,
                                                                             low, base_high))
        elif below and high < base_low:  # type: ignore[operator]
            out.update(verdict="faster", why="p50 %+.1f %% vs the median of %d earlier run(s) (band %.1f %%); CI95 "
                       "high %.4g ms below the baseline's CI95 low %.4g ms" % (100 * change, len(baseline), 100 * band,
                                                                              high, base_low))
        else:
            out.update(verdict="ok", why="p50 %+.1f %% is %s the ±%.1f %% band but the CIs overlap"
                       % (100 * change, side, 100 * band))
    else:
        out.update(verdict="ok", why="p50 %+.1f %% within the ±%.1f %% band" % (100 * change, 100 * band))
    return out


def detect(points: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD, window: int = WINDOW,
           min_baseline: int = MIN_BASELINE) -> pd.DataFrame:
    """``points`` (config_key, time_utc, run_id, p50_ms, p50_ci95_low_ms, p50_ci95_high_ms, valid,
    validity_warnings) with the verdict columns added: baseline_p50_ms, baseline_runs, band_pct,
    change_pct, verdict, why."""
    out = points.copy()
    results: Dict[Any, Dict[str, Any]] = {}
    if len(out):
        ordered = out.sort_values(["config_key", "time_utc", "run_id"])
        cols = {c: ordered[c].tolist() if c in ordered.columns else [None] * len(ordered)
                for c in ("config_key", "p50_ms", "p50_ci95_low_ms", "p50_ci95_high_ms", "valid", "validity_warnings")}
        history: Dict[str, List[Dict[str, Optional[float]]]] = {}
        for i, idx in enumerate(ordered.index):
            p50 = _num(cols["p50_ms"][i])
            if p50 is None:
                continue
            past = history.setdefault(cols["config_key"][i], [])
            base = past[-window:]
            point = {"p50": p50, "low": _num(cols["p50_ci95_low_ms"][i]), "high": _num(cols["p50_ci95_high_ms"][i])}
            if len(base) >= min_baseline:
                res = judge(p50, point["low"], point["high"], base, threshold)
            else:
                res = {"baseline_p50_ms": None, "baseline_runs": len(base), "band_pct": None, "change_pct": None,
                       "verdict": "baseline", "why": "%d earlier usable run(s); %d needed" % (len(base), min_baseline)}
            if _is_invalid(cols["valid"][i]):
                would = " (would be: %s)" % res["verdict"] if res["verdict"] not in ("baseline", "ok") else ""
                res["verdict"] = "invalid"
                res["why"] = "not judged and not used as baseline: the run is not valid (%s)%s" % (
                    cols["validity_warnings"][i] or "no reason stored", would)
            else:
                past.append(point)
            results[idx] = res
    for col in VERDICT_COLUMNS:
        out[col] = pd.Series([results.get(idx, {}).get(col) for idx in out.index], index=out.index, dtype="object")
    return out


def regressions(judged: pd.DataFrame) -> pd.DataFrame:
    """Only the points judged slower."""
    return judged[judged["verdict"] == "slower"] if "verdict" in judged.columns else judged.iloc[0:0]
