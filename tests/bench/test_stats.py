"""Statistics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from bench.stats import bootstrap_ci_median, summarize


def test_summary_of_one_to_ten() -> None:
    s = summarize([float(v) for v in range(10, 0, -1)])  # order must not matter
    assert s["n"] == 10 and s["min_ms"] == 1.0 and s["max_ms"] == 10.0
    assert s["mean_ms"] == 5.5
    # linear interpolation: position p/100 * (n-1) in the sorted list, 0-based
    assert s["p50_ms"] == 5.5            # 4.5 -> between 5 and 6
    assert s["p90_ms"] == pytest.approx(9.1)   # 8.1 -> 9 + 0.1
    assert s["p95_ms"] == pytest.approx(9.55)  # 8.55
    assert s["p99_ms"] == pytest.approx(9.91)  # 8.91
    # sample std: sum((x-5.5)^2) = 82.5; / 9 = 9.1667
    assert s["std_ms"] == pytest.approx(math.sqrt(82.5 / 9))
    assert s["cv"] == pytest.approx(math.sqrt(82.5 / 9) / 5.5)


def test_constant_and_single_samples() -> None:
    s = summarize([2.0] * 5)
    assert s["std_ms"] == 0.0 and s["cv"] == 0.0 and s["p50_ci95_ms"] == [2.0, 2.0]
    one = summarize([3.0])
    assert one["n"] == 1 and one["std_ms"] == 0.0 and one["p50_ci95_ms"] is None
    assert summarize([]) == {"n": 0}


def test_bootstrap_ci_brackets_the_median_and_narrows_with_n() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    small = rng.normal(10, 1, 30)
    large = rng.normal(10, 1, 3000)
    lo_s, hi_s = bootstrap_ci_median(small)
    lo_l, hi_l = bootstrap_ci_median(large)
    assert lo_s <= np.median(small) <= hi_s and lo_l <= np.median(large) <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 4  # width ~ 1/sqrt(n): 10x fewer -> ~3x wider
    # normal theory: CI half-width of the median ~ 1.96 * 1.2533 * sigma / sqrt(n)
    assert (hi_l - lo_l) / 2 == pytest.approx(1.96 * 1.2533 / math.sqrt(3000), rel=0.35)
    assert bootstrap_ci_median(small) == bootstrap_ci_median(small)  # seeded
