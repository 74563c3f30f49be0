"""Timing a GPU session's call phase by phase with events on its own stream.

Each call is staged (the batch into the session's host buffer), then
``e0 mark, copy_in, e1 mark, compute, e2 mark, copy_out, e3 mark, synchronize``: the events give
host-to-device (e0→e1), compute (e1→e2) and device-to-host (e2→e3) as the device executed them,
which no host timer can (the GPU runs asynchronously), and a host clock around the whole call gives
what a caller waits for. The synchronize is inside the host time and after the last event.

A GPU's clock ramps from idle when work arrives and may then fall back under its power or thermal
limit, so warm-up lasts until both the compute time and the SM clock (read over NVML after each
window) settle. The stop rule of the measured calls is ``latency.time_calls``'s, applied to the
compute phase. Nothing here imports torch or CUDA: the session's ``GpuAccess`` does the device work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from quantarena.measure.gpu_access import GpuAccess
from quantarena.measure.latency import CI_CHECK_EVERY, LATENCY_IMAGES, WARMUP_WINDOW, batch_of
from quantarena.measure.nvml import SLOWDOWNS, ProcessMemory
from quantarena.measure.stats import median_ci
from quantarena.results.gpu import GpuState, GpuTiming

Clock = Callable[[], float]

WARMUP_COMPUTE_STABLE = 0.05  # consecutive window compute medians within 5%
WARMUP_CLOCK_STABLE = 0.02  # consecutive SM clock reads within 2%
#: The SM clock moving more than this between the end of warm-up and the end of a pass earns a note.
CLOCK_MOVED_PCT = 5.0


class ClockReader(Protocol):
    """What warm-up and a pass need from NVML (``nvml.NvmlDevice`` is one)."""

    def sm_clock_mhz(self) -> int | None: ...

    def state(self) -> GpuState: ...

    def process_memory(self) -> ProcessMemory | None: ...


@dataclass(frozen=True)
class CallTimes:
    """One call: the three phases from events, and the host's wall time of the whole call (ms)."""

    h2d_ms: float
    compute_ms: float
    d2h_ms: float
    call_ms: float


@dataclass(frozen=True)
class PassLimits:
    """The stop rule of one pass (``MeasureConfig``'s latency or throughput limits)."""

    min_iterations: int
    min_seconds: float
    max_seconds: float
    target_ci: float
    warmup_max_seconds: float


@dataclass(frozen=True)
class DeviceWarmup:
    iterations: int
    seconds: float
    windows: int
    settled: bool  # False: the cap came first
    sm_clock_mhz: list[int]  # read after each window (empty without NVML)


@dataclass
class GpuPass:
    """One pass at one batch size and what surrounded it."""

    timing: GpuTiming
    state_before: GpuState | None
    state_after: GpuState | None
    process_memory: ProcessMemory | None
    notes: list[str] = field(default_factory=list)


def time_call(gpu: GpuAccess, batch: np.ndarray, clock: Clock = time.perf_counter) -> CallTimes:
    """One call, phase by phase (the host time includes staging and the synchronize)."""
    t0 = clock()
    staged = gpu.stage(batch)
    e0 = gpu.mark()
    staged.copy_in()
    e1 = gpu.mark()
    staged.compute()
    e2 = gpu.mark()
    staged.copy_out()
    e3 = gpu.mark()
    gpu.synchronize()
    call_ms = (clock() - t0) * 1000.0
    return CallTimes(e0.elapsed_time(e1), e1.elapsed_time(e2), e2.elapsed_time(e3), call_ms)


def _clock_settled(previous: int | None, now: int | None) -> bool:
    if previous is None or now is None:
        return False
    return abs(now - previous) <= WARMUP_CLOCK_STABLE * previous


def warm_up_device(
    gpu: GpuAccess,
    inputs: list[np.ndarray],
    max_seconds: float,
    nvml: ClockReader | None = None,
    clock: Clock = time.perf_counter,
) -> DeviceWarmup:
    """Windows of calls until two consecutive windows' compute medians agree within 5% and, with
    NVML, the SM clock read after each agrees with the previous read within 2%; or the cap. A
    clock NVML cannot read does not hold warm-up back (the compute rule still applies)."""
    start = clock()
    count = windows = 0
    previous_median: float | None = None
    clocks: list[int] = []
    previous_clock: int | None = None
    while True:
        window = []
        for _ in range(WARMUP_WINDOW):
            window.append(time_call(gpu, inputs[count % len(inputs)], clock).compute_ms)
            count += 1
        windows += 1
        median = float(np.median(window))
        sm = nvml.sm_clock_mhz() if nvml is not None else None
        if sm is not None:
            clocks.append(sm)
        elapsed = clock() - start
        steady = previous_median is not None and (
            abs(median - previous_median) <= WARMUP_COMPUTE_STABLE * previous_median
        )
        clock_ok = nvml is None or sm is None or _clock_settled(previous_clock, sm)
        if steady and clock_ok:
            return DeviceWarmup(count, elapsed, windows, True, clocks)
        if elapsed >= max_seconds:
            return DeviceWarmup(count, elapsed, windows, False, clocks)
        previous_median, previous_clock = median, sm


def time_device_calls(
    gpu: GpuAccess,
    inputs: list[np.ndarray],
    limits: PassLimits,
    nvml: ClockReader | None = None,
    clock: Clock = time.perf_counter,
) -> GpuTiming:
    """Warm up, then time calls until (count, duration and the compute median's CI target) or
    the time cap, as ``latency.time_calls`` does for host calls."""
    warm = warm_up_device(gpu, inputs, limits.warmup_max_seconds, nvml, clock)
    calls: list[CallTimes] = []
    compute: list[float] = []
    start = clock()
    reason = "time_cap"
    while True:
        times = time_call(gpu, inputs[len(calls) % len(inputs)], clock)
        calls.append(times)
        compute.append(times.compute_ms)
        elapsed = clock() - start
        if elapsed >= limits.max_seconds:
            break
        enough = len(calls) >= limits.min_iterations and elapsed >= limits.min_seconds
        if enough and len(calls) % CI_CHECK_EVERY == 0:
            lo, hi = median_ci(np.asarray(compute))
            median = float(np.median(compute))
            if median > 0 and (hi - lo) / 2.0 <= limits.target_ci * median:
                reason = "ci_target"
                break
    return GpuTiming.from_samples(
        [c.h2d_ms for c in calls],
        compute,
        [c.d2h_ms for c in calls],
        [c.call_ms for c in calls],
        batch=int(inputs[0].shape[0]),
        seconds=clock() - start,
        stop_reason=reason,
        min_iterations=limits.min_iterations,
        warmup_iterations=warm.iterations,
        warmup_seconds=warm.seconds,
        warmup_settled=warm.settled,
        warmup_sm_clock_mhz=warm.sm_clock_mhz,
    )


def pass_inputs(images: np.ndarray, batch: int) -> list[np.ndarray]:
    """Batch 1: each call the next of up to 64 distinct images (as ``measure_latency``);
    batch N: one batch of N real images (as the throughput passes)."""
    if batch == 1:
        count = min(len(images), LATENCY_IMAGES)
        return [np.ascontiguousarray(images[i : i + 1]) for i in range(count)]
    return [batch_of(images, batch)]


def measure_pass(
    gpu: GpuAccess,
    images: np.ndarray,
    batch: int,
    limits: PassLimits,
    nvml: ClockReader | None = None,
    clock: Clock = time.perf_counter,
) -> GpuPass:
    """One pass at ``batch``: the allocator peak is reset before and read after, NVML's state
    read before and after, and this process's GPU memory read after."""
    before = nvml.state() if nvml is not None else None
    gpu.synchronize()
    gpu.reset_allocator_peak()
    timing = time_device_calls(gpu, pass_inputs(images, batch), limits, nvml, clock)
    gpu.synchronize()
    timing = timing.model_copy(update={"allocator_peak_mb": gpu.allocator_peak_mb()})
    after = nvml.state() if nvml is not None else None
    memory = nvml.process_memory() if nvml is not None else None
    return GpuPass(timing, before, after, memory, pass_notes(timing, after))


def pass_notes(timing: GpuTiming, after: GpuState | None) -> list[str]:
    """What about a pass deserves a note: a warm-up that never settled, a clock that moved
    while timing, a slowdown NVML reported at the end of the pass."""
    what = f"GPU batch-{timing.batch} pass"
    notes = []
    if not timing.warmup_settled:
        notes.append(f"{what}: warm-up reached its cap before compute time and SM clock settled")
    settled = timing.warmup_sm_clock_mhz[-1] if timing.warmup_sm_clock_mhz else None
    now = after.sm_clock_mhz if after is not None else None
    if settled and now is not None:
        moved = (now - settled) / settled * 100.0
        if abs(moved) > CLOCK_MOVED_PCT:
            notes.append(
                f"{what}: SM clock moved {moved:+.0f}% during the pass ({settled} -> {now} MHz)"
            )
    slow = [r for r in (after.throttle_reasons or []) if r in SLOWDOWNS] if after else []
    if slow:
        notes.append(f"{what}: the GPU was throttling at its end: {', '.join(slow)}")
    return notes


__all__ = [
    "CallTimes",
    "DeviceWarmup",
    "GpuPass",
    "PassLimits",
    "measure_pass",
    "pass_inputs",
    "time_call",
    "time_device_calls",
    "warm_up_device",
]
