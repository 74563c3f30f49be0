"""The accuracy pass as the throughput pass at its batch size: each call timed alone, the rate
from every call after the warm-up, and a pass of its own where too few calls were made."""

from __future__ import annotations

import time

import numpy as np
import pytest

from quantarena.config import MeasureConfig
from quantarena.measure.accuracy import predict
from quantarena.measure.accuracy_speed import (
    EVALUATION_SPLIT,
    MIN_TIMED_CALLS,
    TimedRun,
    pass_throughput,
)
from quantarena.measure.latency import Warmup

WARM = Warmup(iterations=10, seconds=0.5, stable=True)


def test_each_call_is_timed_alone() -> None:
    """What the caller does between calls (here a 30 ms pause) is in no call's time."""

    def call(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.01)
        return batch

    timed = TimedRun(call)
    for _ in range(3):
        assert timed(np.ones((2, 3), np.float32)).shape == (2, 3)
        time.sleep(0.03)
    timed.finish()
    assert len(timed.seconds) == len(timed.cpu_seconds) == 3
    assert all(0.009 < s < 0.03 for s in timed.seconds)
    assert all(c < s for c, s in zip(timed.cpu_seconds, timed.seconds, strict=True))  # sleeping
    assert timed.window_s > sum(timed.seconds) + 0.05  # the window spans the pauses between
    if timed.energy is None:  # no counter here: the reason, never a made-up number
        assert timed.counters.problem


def test_the_rate_counts_every_call_after_the_warm_up() -> None:
    timed = TimedRun(lambda b: b)
    timed.seconds = [0.1] * 10 + [0.3] * 10
    rate = pass_throughput(timed, WARM, 32, MeasureConfig())
    assert not isinstance(rate, str)
    assert rate.stop_reason == EVALUATION_SPLIT and rate.iterations == 20
    assert rate.warmup_iterations == WARM.iterations
    assert rate.images_per_s == pytest.approx(32 / 0.2)  # the mean batch time
    assert rate.images_per_s_ci95[0] < rate.images_per_s < rate.images_per_s_ci95[1]


def test_too_few_calls_leave_the_rate_to_a_pass_of_its_own() -> None:
    timed = TimedRun(lambda b: b)
    timed.seconds = [0.1] * (MIN_TIMED_CALLS - 1)
    reason = pass_throughput(timed, WARM, 32, MeasureConfig())
    assert isinstance(reason, str) and f"fewer than {MIN_TIMED_CALLS}" in reason
    timed.seconds = [0.1] * 12
    config = MeasureConfig(throughput_min_iterations=20)
    assert "fewer than 20" in str(pass_throughput(timed, WARM, 32, config))


def test_timing_the_accuracy_pass_changes_no_prediction(evaluation_images) -> None:  # type: ignore[no-untyped-def]
    """The timed pass hands the session the same batches and gets the same answers."""
    weights = np.random.default_rng(0).standard_normal((3 * 224 * 224, 10)).astype(np.float32)

    def logits(batch: np.ndarray) -> np.ndarray:
        return batch.reshape(len(batch), -1) @ weights

    plain = predict(logits, evaluation_images, 8)
    timed = TimedRun(logits)
    again = predict(timed, evaluation_images, 8)
    assert len(timed.seconds) == -(-len(evaluation_images) // 8)
    assert np.array_equal(plain.top5, again.top5) and plain.files == again.files
