"""Latency statistics in bounded memory for any number of samples.

Percentiles use linear interpolation between order statistics (numpy's default, NIST type 7); ``std``
is the sample standard deviation (n-1); ``cv`` = std / mean.

The 95 % CI of the median in every summary is the distribution-free order-statistics (binomial)
interval (``device_agents.median_ci``): exact coverage for any latency distribution, O(n) time and one
copy of the data, no random numbers — 4,000,000 latencies need ~64 MB, where the former percentile
bootstrap allocated a resamples × n matrix (59.6 GiB). It needs n >= 6 (None below).

A bootstrap is still what a ratio of two medians needs (``bench compare``): ``bootstrap_medians`` draws
its resample indices in chunks of at most ``CHUNK_ELEMENTS`` at a time, so its memory is bounded too
(its time grows with resamples × n; callers cap n with ``max_n``).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

from device_agents.median_ci import median_ci

PERCENTILES = (50, 90, 95, 99)
CI_METHOD = "order statistics (binomial, distribution-free), 95 %"
#: Largest resample block held in memory at once (8-byte elements): 4 M -> 32 MB of indices + values.
CHUNK_ELEMENTS = 4_000_000


def _resample_chunks(n: int, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Index blocks (rows = resamples) of at most CHUNK_ELEMENTS, or one resample when n is larger."""
    rows = max(1, CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < resamples:
        k = min(rows, resamples - done)
        yield rng.integers(0, n, size=(k, n))
        done += k


def bootstrap_medians(samples: Sequence[float], resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """Medians of ``resamples`` bootstrap resamples, drawn chunk by chunk (bounded memory)."""
    x = np.asarray(samples, dtype=float).ravel()
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    i = 0
    for idx in _resample_chunks(x.size, resamples, rng):
        out[i:i + idx.shape[0]] = np.median(x[idx], axis=1)
        i += idx.shape[0]
    return out


def bootstrap_ci_median(samples: Sequence[float], level: float = 0.95, resamples: int = 2000,
                        seed: int = 0) -> Optional[Tuple[float, float]]:
    """Percentile-bootstrap confidence interval of the median, or None for fewer than 2 samples."""
    x = np.asarray(samples, dtype=float).ravel()
    if x.size < 2:
        return None
    medians = bootstrap_medians(x, resamples, seed)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(medians, alpha)), float(np.quantile(medians, 1.0 - alpha))


def summarize(latencies_ms: Sequence[float]) -> Dict[str, Any]:
    """min, mean, p50/p90/p95/p99, max, std, cv, n and the median's 95 % CI (ms; cv unitless).

    Non-finite samples are counted (``non_finite``) and left out of the figures."""
    x = np.asarray(latencies_ms, dtype=float).ravel()
    finite = np.isfinite(x)
    bad = int(x.size - int(finite.sum()))
    if bad:
        x = x[finite]
    if x.size == 0:
        return {"n": 0, "non_finite": bad} if bad else {"n": 0}
    out: Dict[str, Any] = {"n": int(x.size), "min_ms": float(x.min()), "mean_ms": float(x.mean()),
                           "max_ms": float(x.max())}
    for p, v in zip(PERCENTILES, np.percentile(x, PERCENTILES)):
        out["p%d_ms" % p] = float(v)
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    out["std_ms"] = std
    out["cv"] = std / out["mean_ms"] if out["mean_ms"] > 0 else None
    ci = median_ci(x)
    out["p50_ci95_ms"] = list(ci) if ci else None
    out["p50_ci95_method"] = CI_METHOD
    if bad:
        out["non_finite"] = bad
    return out


def _rank_average(xy: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Ranks from 1 with ties averaged, and the size of every tie group (1 for a value seen once)."""
    order = np.argsort(xy, kind="mergesort")
    sorted_xy = xy[order]
    new_group = np.concatenate(([True], sorted_xy[1:] != sorted_xy[:-1]))
    group = np.cumsum(new_group) - 1
    counts = np.bincount(group)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    avg = first + (counts + 1) / 2.0  # mean of ranks first+1 .. first+count
    ranks = np.empty(xy.size, dtype=float)
    ranks[order] = avg[group]
    return ranks, counts


def _exact_u_sf(u: int, n1: int, n2: int) -> float:
    """P(U >= u) under H0 without ties: U's counts are the coefficients of the Gaussian binomial
    [n1+n2 choose m]_q, m = min(n1, n2) (exact integers: slow only for large samples, which never come here)."""
    m, n = min(n1, n2), max(n1, n2)
    deg = m * n
    c = [0] * (deg + 1)
    c[0] = 1
    for i in range(1, m + 1):  # multiply by (1 - q^(n+i)), divide by (1 - q^i)
        k = n + i
        for j in range(deg, k - 1, -1):
            c[j] -= c[j - k]
        for j in range(i, deg + 1):
            c[j] += c[j - i]
    total = sum(c)
    return sum(c[max(0, u):]) / total


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> Tuple[float, float]:
    """Two-sided Mann-Whitney U test of ``x`` against ``y``: (U of x, p-value).

    The same method and numbers as ``scipy.stats.mannwhitneyu(x, y, alternative="two-sided")`` (method "auto":
    the exact null distribution when a sample has 8 or fewer values and there are no ties, otherwise the
    normal approximation with tie and continuity corrections), in numpy alone: importing scipy.stats costs
    about a second, once per process, on the run path (the level-shift check of every job)."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney_u needs at least one value on each side")
    ranks, ties = _rank_average(np.concatenate([a, b]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    u = max(u1, n1 * n2 - u1)
    if (n1 > 8 and n2 > 8) or bool(np.any(ties > 1)):
        n = n1 + n2
        tie_term = float(np.sum(ties.astype(float) ** 3 - ties))
        s = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))))
        z = (u - n1 * n2 / 2.0 - 0.5) / s if s > 0 else math.inf
        p = 2.0 * 0.5 * math.erfc(z / math.sqrt(2.0))
    else:
        p = 2.0 * _exact_u_sf(int(round(u)), n1, n2)
    return u1, min(1.0, max(0.0, p))
