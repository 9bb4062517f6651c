"""Distribution-free confidence interval of the median from order statistics (the binomial method).

For n independent samples of a continuous distribution, the number of samples below the true median
is Binomial(n, 1/2). With ``k`` the largest count such that P(B <= k - 1) <= (1 - level) / 2, the
interval [x_(k), x_(n-k+1)] (1-based order statistics) covers the median with probability
1 - 2·P(B <= k - 1) >= level. Why this and not a bootstrap:

- memory and time are O(n) (two ``numpy.partition`` selections), so millions of latencies are fine;
  a bootstrap needs resamples × n draws (2000 × 4e6 doubles is 64 GB at once);
- it is exact for any distribution shape (latency series are skewed and often multi-modal), needs no
  random numbers and gives the same answer every time;
- it exists only from n = 6 at 95 % (1 - 2/2^6 = 0.969): below that it returns None, which is honest.

Shared by the agent (``--target-ci`` stopping rule) and the host (``bench.analysis.stats``): standard library
and numpy only, Python 3.8.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Tuple

#: Above this n the binomial tail uses the normal approximation with continuity correction (its
#: coverage error there is below 1e-3); at and below it the tail is summed exactly.
EXACT_MAX_N = 1000


def _z(level: float) -> float:
    """Two-sided standard-normal quantile for ``level`` (bisection on erf; stdlib only)."""
    target = (1.0 + level) / 2.0
    lo, hi = 0.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def rank_bounds(n: int, level: float = 0.95) -> Optional[Tuple[int, int, float]]:
    """(lower rank, upper rank, achieved coverage), 0-based ranks into the sorted samples; None when
    n samples cannot give a distribution-free interval at ``level``."""
    alpha = (1.0 - level) / 2.0
    if n < 1:
        return None
    if n <= EXACT_MAX_N:
        # accumulate P(B <= i) term by term (O(n)) until it passes alpha
        log_half_n = n * math.log(0.5)
        cdf_before = 0.0  # P(B <= k - 1)
        k = 0
        while k <= n:
            term = math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + log_half_n)
            if cdf_before + term > alpha:
                break
            cdf_before += term
            k += 1
        if k == 0:
            return None
        return k - 1, n - k, 1.0 - 2.0 * cdf_before
    z = _z(level)
    k = int(math.floor(n / 2.0 - z * math.sqrt(n) / 2.0))  # 1-based lower rank
    k = max(k, 1)
    coverage = 1.0 - 2.0 * 0.5 * (1.0 + math.erf(((k - 1 + 0.5) - n / 2.0) / (math.sqrt(n) / 2.0) / math.sqrt(2.0)))
    return k - 1, n - k, coverage


def median_ci(samples: Any, level: float = 0.95) -> Optional[Tuple[float, float]]:
    """Distribution-free CI of the median of ``samples`` (any sequence or numpy array), or None
    (fewer than 6 samples at 95 %). O(n) time and one copy of the data."""
    import numpy as np

    x = np.asarray(samples, dtype=float).ravel()
    bounds = rank_bounds(int(x.size), level)
    if bounds is None:
        return None
    lo, hi, _ = bounds
    part = np.partition(x, (lo, hi))
    return float(part[lo]), float(part[hi])


def median_ci_half_width_rel(samples: Sequence[float], level: float = 0.95) -> Optional[float]:
    """Half the CI width over the median (0.02 = ±2 %), or None when no CI exists or the median is 0."""
    import numpy as np

    ci = median_ci(samples, level)
    if ci is None:
        return None
    x = np.asarray(samples, dtype=float)
    med = float(np.median(x))
    if med <= 0:
        return None
    # no interval is narrower than the clock can tell: when the CI's ends coincide (many samples on one
    # timer step), its half-width is at least half the smallest step the samples show
    steps = np.diff(np.unique(x))
    floor = float(steps.min()) / 2.0 if steps.size else 0.0
    return max((ci[1] - ci[0]) / 2.0, floor) / med
