"""Batch-1 latency and batch-N throughput of any ``run(batch)`` callable.

Warm-up runs until latency is stable (not a fixed count); measurement runs until a minimum count
and duration are met AND the 95% CI of the median is within the target width, or a time cap is
hit, and says which happened. Inputs are real preprocessed images, cycled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantarena.config import MeasureConfig
from quantarena.measure.stats import median_ci
from quantarena.results.measurements import Latency, Throughput

RunFn = Callable[[np.ndarray], Any]

WARMUP_WINDOW = 5  # iterations per warm-up window
WARMUP_STABLE = 0.05  # consecutive window medians within 5% = stable
WARMUP_MIN = 3  # at least this many warm-up calls, even on a stable start
CI_CHECK_EVERY = 10  # calls between two checks of the stopping rule
LATENCY_IMAGES = 64  # distinct images cycled through the batch-1 pass
THROUGHPUT_WARMUP_MAX_S = 5.0  # warm-up cap of a batch-N pass (see throughput_warmup_cap)


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
        stable = previous is not None and abs(median - previous) <= WARMUP_STABLE * previous
        if stable and count >= WARMUP_MIN:
            return Warmup(count, elapsed, True)
        if elapsed >= max_seconds:
            return Warmup(count, elapsed, False)
        previous = median


def time_calls(
    run: RunFn,
    inputs: list[np.ndarray],
    *,
    min_iterations: int,
    min_seconds: float,
    max_seconds: float,
    target_ci: float,
    warmup_max_seconds: float,
) -> Latency:
    """Warm up, then time calls until (count, duration and CI target) or the time cap.

    The cap wins over the minimum count (a pass must end), so a slow call can leave fewer calls
    than ``min_iterations``, even one. The result then carries the minimum, and its row says how
    few were timed; with too few calls for a 95% CI of the median there is no CI, never a
    zero-width one (``Latency.from_samples``).
    """
    warm = warm_up(run, inputs, warmup_max_seconds)
    times: list[float] = []
    start = time.perf_counter()
    reason = "time_cap"
    while True:
        t0 = time.perf_counter()
        run(inputs[len(times) % len(inputs)])
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        if elapsed >= max_seconds:
            break
        enough = len(times) >= min_iterations and elapsed >= min_seconds
        if enough and len(times) % CI_CHECK_EVERY == 0:
            lo, hi = median_ci(np.asarray(times))
            median = float(np.median(times))
            if median > 0 and (hi - lo) / 2.0 <= target_ci * median:
                reason = "ci_target"
                break
    return Latency.from_samples(
        times,
        batch=int(inputs[0].shape[0]),
        seconds=time.perf_counter() - start,
        stop_reason=reason,
        warmup_iterations=warm.iterations,
        warmup_stable=warm.stable,
        min_iterations=min_iterations,
    )


def measure_latency(run: RunFn, images: np.ndarray, config: MeasureConfig) -> Latency:
    """Batch-1 latency over real images (each call gets the next image)."""
    count = min(len(images), LATENCY_IMAGES)
    inputs = [np.ascontiguousarray(images[i : i + 1]) for i in range(count)]
    return time_calls(
        run,
        inputs,
        min_iterations=config.latency_min_iterations,
        min_seconds=config.latency_min_seconds,
        max_seconds=config.latency_max_seconds,
        target_ci=config.latency_target_ci,
        warmup_max_seconds=config.warmup_max_seconds,
    )


def batch_of(images: np.ndarray, batch: int) -> np.ndarray:
    """``batch`` real images (repeated when fewer were loaded), contiguous."""
    pool = images if len(images) >= batch else np.resize(images, (batch, *images.shape[1:]))
    return np.ascontiguousarray(pool[:batch])


def throughput_warmup_cap(config: MeasureConfig) -> float:
    """The warm-up cap of a batch-N pass: shorter than batch 1's, which has already warmed the
    session up."""
    return min(config.warmup_max_seconds, THROUGHPUT_WARMUP_MAX_S)


def measure_throughput(run: RunFn, batch: np.ndarray, config: MeasureConfig) -> Throughput:
    """Images per second at one batch size; the CI comes from the per-batch times."""
    calls = time_calls(
        run,
        [batch],
        min_iterations=config.throughput_min_iterations,
        min_seconds=config.throughput_min_seconds,
        max_seconds=config.throughput_max_seconds,
        target_ci=config.latency_target_ci,
        warmup_max_seconds=throughput_warmup_cap(config),
    )
    return Throughput.from_latency(calls)


__all__ = [
    "batch_of", "measure_latency", "measure_throughput", "throughput_warmup_cap", "time_calls",
    "warm_up",
]
