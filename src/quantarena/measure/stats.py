"""Statistics that say how sure a number is: percentiles, order-statistic CIs of the median,
paired bootstrap and exact McNemar for accuracy differences. NumPy and the standard library only."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


def median_ci(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (binomial / normal approximation).

    For n samples the median lies between the j-th and k-th smallest with probability >=
    ``confidence`` where j, k = n/2 -/+ z*sqrt(n)/2; valid for any latency distribution.
    """
    values = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(values)
    if n == 0:
        return (math.nan, math.nan)
    z = Z95 if confidence == 0.95 else _z(confidence)
    half = z * math.sqrt(n) / 2.0
    lo = max(0, int(math.floor(n / 2.0 - half)) - 1)
    hi = min(n - 1, int(math.ceil(n / 2.0 + half)))
    return float(values[lo]), float(values[hi])


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def mean_ci(samples: np.ndarray) -> tuple[float, float]:
    """Normal-approximation 95% CI of the mean."""
    values = np.asarray(samples, dtype=np.float64)
    if len(values) < 2:
        m = float(values.mean()) if len(values) else math.nan
        return (m, m)
    half = Z95 * float(values.std(ddof=1)) / math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b, c are the discordant counts (only A right, only B
    right). Under H0 each discordant image is a fair coin flip: p = 2 * P(X <= min(b, c))."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return float(min(1.0, 2.0 * tail))


@dataclass(frozen=True)
class PairedComparison:
    """Variant vs reference on the same images (both as correct/incorrect per image)."""

    images: int
    delta_pp: float  # top-1 change in percentage points (variant - reference)
    ci95_pp: tuple[float, float]
    p_value: float  # exact McNemar
    gained: int  # images the variant gets right and the reference wrong
    lost: int  # images the reference gets right and the variant wrong
    significant: bool  # CI excludes zero and p < 0.05

    def to_json(self) -> dict[str, object]:
        return {
            "images": self.images, "delta_pp": self.delta_pp, "ci95_pp": list(self.ci95_pp),
            "mcnemar_p": self.p_value, "gained": self.gained, "lost": self.lost,
            "significant": self.significant,
        }


def paired_comparison(
    correct: np.ndarray, reference_correct: np.ndarray, resamples: int = 10000, seed: int = 0
) -> PairedComparison:
    """Paired bootstrap CI of the top-1 difference plus the exact McNemar test."""
    a = np.asarray(correct, dtype=bool)
    r = np.asarray(reference_correct, dtype=bool)
    if a.shape != r.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("paired comparison needs two equal-length, non-empty per-image vectors")
    diff = a.astype(np.int8) - r.astype(np.int8)
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
    gained = int(np.sum(a & ~r))
    lost = int(np.sum(~a & r))
    p = mcnemar_exact_p(gained, lost)
    delta = float(diff.mean() * 100.0)
    significant = bool(p < 0.05 and not (lo <= 0.0 <= hi))
    return PairedComparison(n, delta, (lo, hi), p, gained, lost, significant)
