"""Latency statistics. Percentiles use linear interpolation between order statistics (numpy's
default, NIST type 7); ``std`` is the sample standard deviation (n-1); ``cv`` = std / mean; the 95%
CI of the median is a percentile bootstrap with a fixed seed."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def bootstrap_ci_median(samples: Sequence[float], level: float = 0.95, resamples: int = 2000,
                        seed: int = 0) -> Optional[tuple]:
    """Percentile-bootstrap confidence interval of the median, or None for fewer than 2 samples."""
    x = np.asarray(samples, dtype=float)
    if x.size < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    medians = np.median(x[idx], axis=1)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(medians, alpha)), float(np.quantile(medians, 1.0 - alpha))


def summarize(latencies_ms: Sequence[float]) -> Dict[str, Any]:
    """min, mean, p50/p90/p95/p99, max, std, cv, n and the median's 95% CI, all in ms (cv unitless)."""
    x = np.asarray(latencies_ms, dtype=float)
    if x.size == 0:
        return {"n": 0}
    out: Dict[str, Any] = {"n": int(x.size), "min_ms": float(x.min()), "mean_ms": float(x.mean()),
                           "max_ms": float(x.max())}
    for p in PERCENTILES:
        out["p%d_ms" % p] = float(np.percentile(x, p))
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    out["std_ms"] = std
    out["cv"] = std / out["mean_ms"] if out["mean_ms"] > 0 else None
    ci = bootstrap_ci_median(x)
    out["p50_ci95_ms"] = list(ci) if ci else None
    return out
