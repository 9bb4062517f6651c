"""The order-statistics CI of the median: ranks against scipy's binomial, both branches of the tail."""

from __future__ import annotations

import pytest

from device_agents.median_ci import EXACT_MAX_N, median_ci, rank_bounds


@pytest.mark.parametrize("n", [6, 10, 50, 137, 1000, 1001, 5000, 4_000_000])
def test_ranks_reach_the_level_like_scipy(n: int) -> None:
    from scipy.stats import binom

    lo, hi, coverage = rank_bounds(n, 0.95)
    assert hi == n - 1 - lo  # symmetric ranks
    exact = 1 - 2 * binom.cdf(lo, n, 0.5)  # P(B <= k-1) with k = lo + 1
    assert exact >= 0.95 - (1e-3 if n > EXACT_MAX_N else 0)
    assert coverage == pytest.approx(exact, abs=2e-3)
    # one rank further in would fall below the level: the interval is the narrowest that covers
    assert 1 - 2 * binom.cdf(lo + 1, n, 0.5) < 0.95 + (1e-3 if n > EXACT_MAX_N else 0)


def test_too_few_samples_and_values() -> None:
    assert rank_bounds(5) is None and median_ci([1.0, 2.0]) is None
    assert median_ci(list(range(1, 11))) == (2.0, 9.0)
