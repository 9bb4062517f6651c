"""Statistics against values computed by hand, and in bounded memory for millions of samples."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from bench.analysis.stats import bootstrap_ci_median, bootstrap_medians, summarize


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
    # order statistics, n = 10: P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024 -> 2nd and 9th values
    assert s["p50_ci95_ms"] == [2.0, 9.0]


def test_constant_few_and_single_samples() -> None:
    s = summarize([2.0] * 10)
    assert s["std_ms"] == 0.0 and s["cv"] == 0.0 and s["p50_ci95_ms"] == [2.0, 2.0]
    # five samples cannot give a distribution-free 95 % interval (best coverage 1 - 2/32 = 0.94)
    assert summarize([1.0, 2.0, 3.0, 4.0, 5.0])["p50_ci95_ms"] is None
    assert summarize([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])["p50_ci95_ms"] == [1.0, 6.0]
    one = summarize([3.0])
    assert one["n"] == 1 and one["std_ms"] == 0.0 and one["p50_ci95_ms"] is None
    assert summarize([]) == {"n": 0}


def test_non_finite_samples_are_counted_not_averaged() -> None:
    s = summarize([1.0, float("nan"), 2.0, float("inf"), 3.0])
    assert s["n"] == 3 and s["non_finite"] == 2 and s["mean_ms"] == 2.0


def test_median_ci_covers_and_matches_normal_theory() -> None:
    rng = np.random.default_rng(1)
    large = rng.normal(10, 1, 3000)
    lo, hi = summarize(large)["p50_ci95_ms"]
    assert lo <= np.median(large) <= hi
    # normal theory: CI half-width of the median ~ 1.96 * 1.2533 * sigma / sqrt(n)
    assert (hi - lo) / 2 == pytest.approx(1.96 * 1.2533 / math.sqrt(3000), rel=0.2)
    # coverage over many samples of a skewed (log-normal) distribution, true median 1.0
    misses = 0
    for k in range(400):
        x = np.random.default_rng(100 + k).lognormal(0.0, 0.8, 40)
        lo, hi = summarize(x)["p50_ci95_ms"]
        misses += not (lo <= 1.0 <= hi)
    assert misses / 400 < 0.06  # exact method: at most 5 % by construction (plus sampling noise)


def test_bootstrap_ci_brackets_the_median_and_narrows_with_n() -> None:
    rng = np.random.default_rng(1)
    small = rng.normal(10, 1, 30)
    large = rng.normal(10, 1, 3000)
    lo_s, hi_s = bootstrap_ci_median(small)
    lo_l, hi_l = bootstrap_ci_median(large)
    assert lo_s <= np.median(small) <= hi_s and lo_l <= np.median(large) <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 4  # width ~ 1/sqrt(n): 10x fewer -> ~3x wider
    assert (hi_l - lo_l) / 2 == pytest.approx(1.96 * 1.2533 / math.sqrt(3000), rel=0.35)
    assert bootstrap_ci_median(small) == bootstrap_ci_median(small)  # seeded


def test_four_million_latencies_in_bounded_memory() -> None:
    """Issue 9 item 1: a resamples x n matrix for n = 4e6 is 59.6 GiB; the summary must stay small."""
    x = np.random.default_rng(0).lognormal(0.0, 0.3, 4_000_000)
    data_mb = x.nbytes / 1e6  # 32 MB
    tracemalloc.start()
    try:
        s = summarize(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert s["n"] == 4_000_000 and s["p50_ci95_ms"][0] < s["p50_ms"] < s["p50_ci95_ms"][1]
    assert peak / 1e6 < 6 * data_mb, "summary of 4e6 samples peaked at %.0f MB" % (peak / 1e6)
    # the bootstrap used by comparisons draws its indices in chunks: a few resamples of 4e6 stay small too
    tracemalloc.start()
    try:
        medians = bootstrap_medians(x, resamples=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert medians.shape == (3,) and abs(medians.mean() - 1.0) < 0.01
    assert peak / 1e6 < 6 * data_mb, "bootstrap of 4e6 samples peaked at %.0f MB" % (peak / 1e6)


def test_mann_whitney_matches_scipy_exact_and_asymptotic() -> None:
    """The numpy Mann-Whitney U (the run path must not import scipy) gives scipy's U and p-value, in both of
    scipy's methods: exact (a sample of <= 8, no ties) and normal with tie and continuity corrections."""
    from scipy.stats import mannwhitneyu

    from bench.analysis.stats import mann_whitney_u

    rng = np.random.default_rng(7)
    cases = [([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]),                    # exact, fully separated
             (list(rng.normal(0, 1, 6)), list(rng.normal(0.5, 1, 200))),  # exact: one side has 6
             (list(rng.normal(0, 1, 40)), list(rng.normal(0.3, 1, 55))),  # asymptotic
             ([1.0, 1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 3.0, 4.0]),           # ties: asymptotic even when small
             (list(rng.integers(0, 4, 30).astype(float)), list(rng.integers(1, 5, 30).astype(float)))]
    for a, b in cases:
        ref = mannwhitneyu(a, b, alternative="two-sided")
        u, p = mann_whitney_u(a, b)
        assert u == pytest.approx(float(ref.statistic), abs=1e-9)
        assert p == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-15)
    with pytest.raises(ValueError):
        mann_whitney_u([], [1.0])
