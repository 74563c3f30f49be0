"""The measuring sequence: a list of meters, each filling one typed measurement of a variant's row
or saying, with a reason, why it cannot (``Unavailable``).

Adding a measurement is one meter here, one entry in ``METERS`` and one report column. Meters run
in list order on one loaded session; memory is read before the accuracy pass on purpose (that
pass holds the whole evaluation split, which would otherwise count as the runtime's memory), and
CPU time, energy and contention after it (it is also the throughput pass at its batch size).
"""

from __future__ import annotations

import functools
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np

from quantarena.config import MeasureConfig
from quantarena.hardware import this_cpu
from quantarena.measure.accuracy import Predictions, predict
from quantarena.measure.contention import ContentionWindow
from quantarena.measure.energy import NO_SENSOR, EnergyCounters
from quantarena.measure.latency import batch_of, measure_latency, measure_throughput
from quantarena.measure.memory import peak_rss_mb
from quantarena.results.accuracy import Accuracy
from quantarena.results.kernel import KernelCheck
from quantarena.results.measurements import (
    Block,
    Contention,
    CpuTime,
    Energy,
    Latency,
    Memory,
    Throughput,
    Unavailable,
)
from quantarena.results.schema import Measurements
from quantarena.toolchains.base import Session


@dataclass(frozen=True)
class BusyWindow:
    """CPU time and energy counters around one throughput pass (warm-up included)."""

    batch: int
    images: int
    window_s: float
    cpu_seconds: float
    energy: tuple[float, list[str]] | None
    #: why ``energy`` is ``None`` (no counter; a GPU counter that did not move in the window)
    energy_problem: str | None = None


@dataclass
class MeasureRun:
    """One loaded session and what the meters share while measuring it."""

    session: Session
    config: MeasureConfig
    timing_images: np.ndarray  # a few real images, in private memory
    evaluation: Path  # the cached evaluation split (memory-mapped by the accuracy pass)
    predictions_path: Path
    rss_before_load_mb: float
    rss_after_load_mb: float
    speed_unavailable: str | None = None  # declared by the recipe
    accuracy_unavailable: str | None = None  # e.g. random weights
    measured: Measurements = field(default_factory=Measurements)
    windows: dict[int, BusyWindow] = field(default_factory=dict)
    #: the batch-1 latency pass's CPU and energy window: batch 1's throughput window
    latency_window: BusyWindow | None = None

    @property
    def times_accuracy_pass(self) -> bool:
        """Whether the accuracy pass is timed as the throughput pass at its batch size
        (``measure.accuracy_speed``): configured, at a throughput batch above 1, with speed and
        accuracy both measured here."""
        batch = self.config.eval_batch
        return (self.config.throughput_from_accuracy and batch != 1
                and batch in self.config.throughput_batches
                and self.speed_unavailable is None and self.accuracy_unavailable is None)


Result = Block | list[Throughput] | Unavailable


class Meter(ABC):
    #: the key of ``unavailable`` this meter answers for
    key: ClassVar[str]
    #: the ``Measurements`` field it fills
    field: ClassVar[str]
    #: a speed measurement means nothing when the recipe declares its speed unavailable
    speed: ClassVar[bool] = False

    def start(self, run: MeasureRun) -> None:  # noqa: B027 - optional hook, empty by design
        """Called for every meter before the first one measures (opens windows)."""

    @abstractmethod
    def measure(self, run: MeasureRun) -> Result: ...


Pass = TypeVar("Pass", Latency, Throughput)


def _timed_window(batch: int, measure: Callable[[], Pass]) -> tuple[Pass, BusyWindow]:
    """Run one speed pass with the process CPU clock and the energy counters around it."""
    counters = EnergyCounters()
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    counters.start()
    result = measure()
    energy = counters.stop()
    images = batch * (result.iterations + result.warmup_iterations)
    window = BusyWindow(
        batch, images, time.perf_counter() - wall0, _cpu_seconds() - cpu0, energy, counters.problem
    )
    return result, window


class LatencyMeter(Meter):
    key, field, speed = "latency", "latency_ms", True

    def measure(self, run: MeasureRun) -> Latency:
        latency, run.latency_window = _timed_window(
            1, functools.partial(measure_latency, run.session.run, run.timing_images, run.config)
        )
        return latency


class ThroughputMeter(Meter):
    """One pass per configured batch size; each pass's CPU time and energy counters are kept for
    the CPU-time and energy meters.

    Batch 1's rate is the latency pass's (``Throughput.from_latency``): the same calls at the same
    batch, timed under a stricter rule (more calls, a longer cap, 64 images cycled instead of one).
    Timing them again cost 3-15 s and a warm-up per variant for no new information (~46 s of a
    10 min ``make demo`` on a 2-core AMD EPYC with AVX2, no VNNI); so is the accuracy pass's batch
    size when the accuracy meter times that pass (``MeasureRun.times_accuracy_pass``)."""

    key, field, speed = "throughput", "throughput", True

    def measure(self, run: MeasureRun) -> list[Throughput] | Unavailable:
        if not run.config.throughput_batches:
            return Unavailable(reason="no throughput pass was configured")
        passes = []
        for batch in run.config.throughput_batches:
            latency = run.measured.latency_ms
            if batch == 1 and latency is not None and run.latency_window is not None:
                passes.append(Throughput.from_latency(latency))
                run.windows[batch] = run.latency_window
                continue
            if batch == run.config.eval_batch and run.times_accuracy_pass:
                continue
            throughput, run.windows[batch] = throughput_pass(run, batch)
            passes.append(throughput)
        return passes


def throughput_pass(run: MeasureRun, batch: int) -> tuple[Throughput, BusyWindow]:
    """A throughput pass of its own at ``batch``, on the timing images."""
    inputs = batch_of(run.timing_images, batch)
    return _timed_window(
        batch, functools.partial(measure_throughput, run.session.run, inputs, run.config)
    )


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _largest_window(run: MeasureRun) -> BusyWindow | Unavailable:
    if not run.windows:
        reason = run.measured.unavailable.get("throughput", "no throughput pass was measured")
        return Unavailable(reason=reason)
    return run.windows[max(run.windows)]


class CpuTimeMeter(Meter):
    """Process CPU seconds per image over the largest batch's throughput pass."""

    key, field, speed = "cpu_time", "cpu_time", True

    def measure(self, run: MeasureRun) -> CpuTime | Unavailable:
        window = _largest_window(run)
        if isinstance(window, Unavailable):
            return window
        return CpuTime(
            batch=window.batch,
            images=window.images,
            window_s=window.window_s,
            seconds_per_image=window.cpu_seconds / window.images,
        )


class EnergyMeter(Meter):
    """Joules per image over the largest batch's throughput pass, from RAPL/NVML counters."""

    key, field, speed = "energy", "energy", True

    def measure(self, run: MeasureRun) -> Energy | Unavailable:
        window = _largest_window(run)
        if isinstance(window, Unavailable):
            return window
        if window.energy is None:
            return Unavailable(reason=window.energy_problem or NO_SENSOR)
        joules, sources = window.energy
        return Energy(
            batch=window.batch,
            images=window.images,
            window_s=window.window_s,
            joules_per_image=joules / window.images,
            sources=sources,
        )


class ContentionMeter(Meter):
    """Other processes' CPU use from the first meter's start to the end of the speed meters."""

    key, field, speed = "contention", "contention", True

    def __init__(self) -> None:
        self.window = ContentionWindow()

    def start(self, run: MeasureRun) -> None:
        self.window.start()

    def measure(self, run: MeasureRun) -> Contention:
        return self.window.stop()


class MemoryMeter(Meter):
    key, field = "memory", "memory"

    def measure(self, run: MeasureRun) -> Memory:
        largest = max([run.config.eval_batch, *run.config.throughput_batches])
        if not any(batch >= largest for batch in run.windows):
            # No pass ran at the largest batch (speed not measured, or the accuracy pass times
            # it later): one call at that batch shape, so the peak covers inference at it.
            run.session.run(batch_of(run.timing_images, largest))
        peak = peak_rss_mb()
        return Memory(
            peak_rss_mb=peak,
            baseline_rss_mb=run.rss_before_load_mb,
            after_load_rss_mb=run.rss_after_load_mb,
            load_increase_mb=run.rss_after_load_mb - run.rss_before_load_mb,
            inference_increase_mb=max(0.0, peak - run.rss_after_load_mb),
        )


class AccuracyMeter(Meter):
    """Every evaluation image once; per-image predictions are saved for paired comparisons.
    With ``MeasureRun.times_accuracy_pass`` the pass is also the throughput pass at its batch
    size (``measure.accuracy_speed``); where it cannot stand for one, one is timed after it."""

    key, field = "accuracy", "accuracy"

    def measure(self, run: MeasureRun) -> Accuracy | Unavailable:
        if run.accuracy_unavailable:
            return Unavailable(reason=run.accuracy_unavailable)
        if run.times_accuracy_pass:
            from quantarena.measure.accuracy_speed import timed_predictions  # imports this module

            predictions = timed_predictions(run)
        else:
            from quantarena.data.cache import load_split

            split = load_split(run.evaluation)
            predictions = predict(run.session.run, split, run.config.eval_batch)
        predictions.save(run.predictions_path)
        return predictions.accuracy()


class KernelMeter(Meter):
    """The same quantized graph in exact arithmetic over the evaluation split, against the
    deployed predictions: how much of the accuracy change is the CPU kernels' (see
    ``results.kernel``)."""

    key, field = "kernel", "kernel"

    def measure(self, run: MeasureRun) -> KernelCheck | Unavailable:
        if run.accuracy_unavailable:
            return Unavailable(reason=run.accuracy_unavailable)
        twin = run.session.exact_twin()
        if isinstance(twin, Unavailable):
            return twin
        from quantarena.data.cache import load_split

        exact = predict(twin.run, load_split(run.evaluation), run.config.eval_batch, "exact")
        exact.save(exact_predictions_path(run.predictions_path))
        return Predictions.load(run.predictions_path).kernel_check(exact, this_cpu())


def exact_predictions_path(predictions: Path) -> Path:
    """Where the exact-arithmetic predictions go, beside the deployed ones."""
    return predictions.with_name("exact_predictions.npz")


def default_meters() -> list[Meter]:
    """Fresh meters in measuring order (a meter may hold a window's state). The GPU meter
    follows the host speed passes, inside the contention window, before memory and accuracy."""
    from quantarena.measure.gpu_meter import GpuMeter  # it imports this module

    return [
        LatencyMeter(),
        ThroughputMeter(),
        GpuMeter(),
        MemoryMeter(),
        AccuracyMeter(),
        CpuTimeMeter(),
        EnergyMeter(),
        ContentionMeter(),
        KernelMeter(),
    ]


def measure_all(run: MeasureRun, meters: list[Meter] | None = None) -> Measurements:
    """Run every meter in order; each result lands in its field or, with its reason, in
    ``unavailable``; the measurements' own notes are collected last."""
    meters = default_meters() if meters is None else meters
    for meter in meters:
        meter.start(run)
    for meter in meters:
        result: Result
        if meter.speed and run.speed_unavailable:
            result = Unavailable(reason=run.speed_unavailable)
        else:
            result = meter.measure(run)
        if isinstance(result, Unavailable):
            run.measured.unavailable[meter.key] = result.reason
        else:
            setattr(run.measured, meter.field, result)
    run.measured.notes = run.measured.measurement_notes()
    return run.measured
