"""Batch-1 latency and batch-N throughput of any ``run(batch)`` callable.

Warm-up runs until latency is stable (not a fixed count); measurement runs until a minimum count
and duration are met AND the 95% CI of the median is within the target width, or a time cap is
hit, and says which happened. Inputs are real preprocessed images, cycled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from quantarena.config import MeasureConfig
from quantarena.measure.stats import median_ci

RunFn = Callable[[np.ndarray], Any]

WARMUP_WINDOW = 5  # iterations per warm-up window
WARMUP_STABLE = 0.05  # consecutive window medians within 5% = stable
WARMUP_MIN = 3  # at least this many warm-up calls, even on a stable start


@dataclass(frozen=True)
class Warmup:
    iterations: int
    seconds: float
    stable: bool  # False: the cap was hit before latency settled


def warm_up(run: RunFn, inputs: list[np.ndarray], max_seconds: float) -> Warmup:
    """Run windows of calls until two consecutive window medians agree within 5%."""
    start = time.perf_counter()
    previous: float | None = None
    count = 0
    while True:
        window = []
        for _ in range(WARMUP_WINDOW):
            t0 = time.perf_counter()
            run(inputs[count % len(inputs)])
            window.append(time.perf_counter() - t0)
            count += 1
        median = float(np.median(window))
        elapsed = time.perf_counter() - start
        if previous is not None and abs(median - previous) <= WARMUP_STABLE * previous and count >= WARMUP_MIN:
            return Warmup(count, elapsed, True)
        if elapsed >= max_seconds:
            return Warmup(count, elapsed, False)
        previous = median


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency in milliseconds, with the CI of the median and why measuring stopped."""

    batch: int
    iterations: int
    seconds: float
    mean: float
    std: float
    min: float
    p25: float
    p50: float
    p75: float
    p90: float
    p99: float
    max: float
    cv: float
    p50_ci95: tuple[float, float]
    stop_reason: str  # "ci_target" | "time_cap"
    warmup_iterations: int
    warmup_stable: bool
    #: the 0th, 1st, ..., 100th percentiles: the whole distribution in 101 numbers (box/violin plots)
    quantiles: tuple[float, ...] = ()
    #: median of the second half of the calls vs the first half, in percent: machine drift that a
    #: within-window CI cannot show
    drift_pct: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["p50_ci95"] = list(self.p50_ci95)
        data["quantiles"] = list(self.quantiles)
        return data


def _drift_pct(ms: np.ndarray) -> float:
    half = len(ms) // 2
    if half < 5:
        return 0.0
    first, second = float(np.median(ms[:half])), float(np.median(ms[half:]))
    return (second - first) / first * 100.0 if first > 0 else 0.0


def _summarize(times_s: list[float], batch: int, seconds: float, reason: str, warm: Warmup) -> LatencyStats:
    ms = np.asarray(times_s) * 1000.0
    quantiles = tuple(float(v) for v in np.percentile(ms, np.arange(101)))
    p25, p50, p75, p90, p99 = (quantiles[q] for q in (25, 50, 75, 90, 99))
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if len(ms) > 1 else 0.0
    return LatencyStats(
        batch=batch, iterations=len(ms), seconds=seconds, mean=mean, std=std,
        min=float(ms.min()), p25=p25, p50=p50, p75=p75, p90=p90, p99=p99, max=float(ms.max()),
        cv=std / mean if mean else 0.0, p50_ci95=median_ci(ms), stop_reason=reason,
        warmup_iterations=warm.iterations, warmup_stable=warm.stable, quantiles=quantiles,
        drift_pct=_drift_pct(ms),
    )


def time_calls(
    run: RunFn, inputs: list[np.ndarray], *, min_iterations: int, min_seconds: float,
    max_seconds: float, target_ci: float, warmup_max_seconds: float,
) -> LatencyStats:
    """Warm up, then time calls until (count, duration and CI target) or the time cap."""
    warm = warm_up(run, inputs, warmup_max_seconds)
    times: list[float] = []
    start = time.perf_counter()
    reason = "time_cap"
    check_every = 10
    while True:
        t0 = time.perf_counter()
        run(inputs[len(times) % len(inputs)])
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        if elapsed >= max_seconds:
            break
        if len(times) >= min_iterations and elapsed >= min_seconds and len(times) % check_every == 0:
            lo, hi = median_ci(np.asarray(times))
            median = float(np.median(times))
            if median > 0 and (hi - lo) / 2.0 <= target_ci * median:
                reason = "ci_target"
                break
    return _summarize(times, int(inputs[0].shape[0]), time.perf_counter() - start, reason, warm)


def measure_latency(run: RunFn, images: np.ndarray, config: MeasureConfig) -> LatencyStats:
    """Batch-1 latency over real images (each call gets the next image)."""
    inputs = [np.ascontiguousarray(images[i : i + 1]) for i in range(min(len(images), 64))]
    return time_calls(
        run, inputs, min_iterations=config.latency_min_iterations,
        min_seconds=config.latency_min_seconds, max_seconds=config.latency_max_seconds,
        target_ci=config.latency_target_ci, warmup_max_seconds=config.warmup_max_seconds,
    )


@dataclass(frozen=True)
class Throughput:
    batch: int
    images_per_s: float
    images_per_s_ci95: tuple[float, float]
    iterations: int
    batch_latency_ms_p50: float
    stop_reason: str
    warmup_iterations: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["images_per_s_ci95"] = list(self.images_per_s_ci95)
        return data


def measure_throughput(run: RunFn, batches: list[np.ndarray], config: MeasureConfig) -> Throughput:
    """Images per second at one batch size; the CI comes from the per-batch times."""
    stats = time_calls(
        run, batches, min_iterations=config.throughput_min_iterations,
        min_seconds=config.throughput_min_seconds, max_seconds=config.throughput_max_seconds,
        target_ci=config.latency_target_ci, warmup_max_seconds=min(config.warmup_max_seconds, 5.0),
    )
    batch = stats.batch
    # Throughput is the mean rate; its CI maps the CI of the mean batch time.
    lo_ms, hi_ms = _mean_ci(stats)
    return Throughput(
        batch=batch, images_per_s=batch / (stats.mean / 1000.0),
        images_per_s_ci95=(batch / (hi_ms / 1000.0), batch / (lo_ms / 1000.0)),
        iterations=stats.iterations, batch_latency_ms_p50=stats.p50, stop_reason=stats.stop_reason,
        warmup_iterations=stats.warmup_iterations,
    )


def _mean_ci(stats: LatencyStats) -> tuple[float, float]:
    half = 1.959963984540054 * stats.std / max(1.0, stats.iterations) ** 0.5
    return max(stats.mean - half, 1e-9), stats.mean + half


__all__ = ["LatencyStats", "Throughput", "measure_latency", "measure_throughput", "time_calls"]
