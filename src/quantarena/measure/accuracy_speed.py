"""Throughput at the accuracy pass's batch size, timed over the accuracy pass itself.

The accuracy pass already calls the session once per evaluation batch: 25 calls of 32 real,
distinct images on the default split. A throughput pass of its own at that batch size repeated
one batch of timing images for 3-15 s after its warm-up: ~18 s per variant, over 100 s of a
``make demo`` on a 2-core AMD EPYC without VNNI, to time calls the run makes anyway. Here the
session warms up at that batch first (the rule of every pass, ``latency.warm_up``), then each
accuracy call is timed alone (its batch is already a private copy, made before the pass starts),
wall clock and process CPU; every call counts, as in a pass after its warm-up. Where too few
calls are made (a small evaluation set), the caller times a pass of its own instead; the row's
``stop_reason`` says which way it was timed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantarena.config import MeasureConfig
from quantarena.measure.accuracy import Predictions, predict
from quantarena.measure.energy import EnergyCounters
from quantarena.measure.latency import (
    RunFn,
    Warmup,
    batch_of,
    throughput_warmup_cap,
    warm_up,
)
from quantarena.measure.meters import BusyWindow, MeasureRun, throughput_pass
from quantarena.results.measurements import Latency, Throughput

#: ``stop_reason`` of a throughput timed over the accuracy pass: every evaluation batch once
EVALUATION_SPLIT = "evaluation_split"
#: Calls the accuracy pass must make to stand for a throughput pass (and at least
#: ``throughput_min_iterations``): with fewer, the CI is wide or missing, and a pass of its own
#: is the better measurement.
MIN_TIMED_CALLS = 10


@dataclass
class TimedRun:
    """A session's ``run`` that times each call (wall and process CPU seconds, all threads) and
    reads the energy counters from the first call to ``finish``: what the accuracy pass does
    between calls (ranking the logits) lies outside the per-call times, and took 0.3-1% of the
    energy window on MobileNetV2 (2-core AMD EPYC, AVX2 only;
    ``benchmarks/accuracy_pass_throughput.py``)."""

    run: RunFn
    counters: EnergyCounters = field(default_factory=EnergyCounters)
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    window_s: float = 0.0
    energy: tuple[float, list[str]] | None = None
    _started: float | None = None

    def __call__(self, batch: np.ndarray) -> Any:
        if self._started is None:
            self.counters.start()
            self._started = time.perf_counter()
        cpu0, t0 = time.process_time(), time.perf_counter()
        out = self.run(batch)
        self.seconds.append(time.perf_counter() - t0)
        self.cpu_seconds.append(time.process_time() - cpu0)
        return out

    def finish(self) -> None:
        """Close the energy window (after the last call)."""
        if self._started is not None:
            self.energy = self.counters.stop()
            self.window_s = time.perf_counter() - self._started


def pass_throughput(
    timed: TimedRun, warm: Warmup, batch: int, config: MeasureConfig
) -> Throughput | str:
    """The rate of the timed accuracy calls after ``warm`` (the warm-up before the pass), or why
    the pass cannot stand for a throughput pass (then the caller times one)."""
    needed = max(config.throughput_min_iterations, MIN_TIMED_CALLS)
    if len(timed.seconds) < needed:
        return (f"it made {len(timed.seconds)} calls, fewer than {needed} (a throughput pass of "
                "its own was timed)")
    calls = Latency.from_samples(
        timed.seconds, batch=batch, seconds=float(sum(timed.seconds)),
        stop_reason=EVALUATION_SPLIT, warmup_iterations=warm.iterations,
        warmup_stable=warm.stable, min_iterations=config.throughput_min_iterations,
    )
    return Throughput.from_latency(calls)


def timed_predictions(run: MeasureRun) -> Predictions:
    """The accuracy pass, timed as the throughput pass at its batch size: a warm-up at that
    batch, then the pass; its rate and CPU and energy window join the run's throughput passes."""
    from quantarena.data.cache import load_split

    batch = run.config.eval_batch
    warm = warm_up(run.session.run, [batch_of(run.timing_images, batch)],
                   throughput_warmup_cap(run.config))
    timed = TimedRun(run.session.run)
    predictions = predict(timed, load_split(run.evaluation), batch)
    timed.finish()
    rate = pass_throughput(timed, warm, batch, run.config)
    if isinstance(rate, Throughput):
        run.windows[batch] = BusyWindow(
            batch, batch * len(timed.seconds), timed.window_s, sum(timed.cpu_seconds),
            timed.energy, timed.counters.problem,
        )
    else:
        print(f"throughput at batch {batch}: the accuracy pass was not used: {rate}",
              file=sys.stderr)
        rate, run.windows[batch] = throughput_pass(run, batch)
    run.measured.throughput = sorted([*(run.measured.throughput or []), rate],
                                     key=lambda t: t.batch)
    return predictions
