"""Statistics that say how sure a number is: order-statistic CIs of the median, the CI of a mean,
paired bootstrap and exact McNemar for accuracy differences. NumPy and the standard library only."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

Z95 = NormalDist().inv_cdf(0.975)


def median_ci(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (binomial / normal approximation).

    For n samples the median lies between the j-th and k-th smallest with probability >=
    ``confidence`` where j, k = n/2 -/+ z*sqrt(n)/2; valid for any latency distribution.
    """
    values = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(values)
    if n == 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    half = z * math.sqrt(n) / 2.0
    lo = max(0, int(math.floor(n / 2.0 - half)) - 1)
    hi = min(n - 1, int(math.ceil(n / 2.0 + half)))
    return float(values[lo]), float(values[hi])


def mean_ci(mean: float, std: float, n: int) -> tuple[float, float]:
    """Normal-approximation 95% CI of a mean from its sample mean, standard deviation and count."""
    half = Z95 * std / math.sqrt(max(1, n))
    return mean - half, mean + half


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b, c are the discordant counts (only A right, only B
    right). Under H0 each discordant image is a fair coin flip: p = 2 * P(X <= min(b, c))."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return float(min(1.0, 2.0 * tail))


def bootstrap_ci_pp(diff: np.ndarray, resamples: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95% paired-bootstrap CI, in percentage points, of the mean of per-image differences
    (each -1, 0 or +1: variant right/wrong minus reference right/wrong)."""
    n = len(diff)
    rng = np.random.default_rng(seed)
    # Resample in chunks: memory stays small for large evaluation sets.
    means = []
    for start in range(0, resamples, 1000):
        count = min(1000, resamples - start)
        idx = rng.integers(0, n, size=(count, n))
        means.append(diff[idx].mean(axis=1))
    boot = np.concatenate(means) * 100.0
    lo, hi = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
    return lo, hi
