"""The GPU meter: a GPU session timed on its device, phase by phase, at batch 1 and at every
throughput batch size, with the device's clocks, power, temperature and memory around each pass.

The host meters (latency, throughput) already time what a caller waits for; this one says where
that time goes on the device (copies vs compute) and under which conditions (a clock that had not
settled, a power cap). Sessions decide whether they have a device (``Session.gpu``): a CPU
session's answer is its row's reason, so nothing here asks what kind of session it holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from quantarena.config import MeasureConfig
from quantarena.measure.cuda_events import Clock, GpuPass, PassLimits, measure_pass
from quantarena.measure.gpu_access import GpuAccess
from quantarena.measure.latency import throughput_warmup_cap
from quantarena.measure.meters import MeasureRun, Meter
from quantarena.measure.nvml import NvmlDevice, open_device
from quantarena.results.gpu import GpuMeasurement
from quantarena.results.measurements import Unavailable

#: A session written before ``Session.gpu`` existed (a plug-in) has no answer of its own.
NO_GPU_METHOD = Unavailable(
    reason="the session does not implement gpu(): its toolchain predates device-side timing"
)

NvmlOpener = Callable[[GpuAccess], "NvmlDevice | Unavailable"]


def _open(access: GpuAccess) -> NvmlDevice | Unavailable:
    return open_device(access.pci_bus_id, access.device_index)


def batch_sizes(config: MeasureConfig) -> list[int]:
    """Batch 1 (the latency pass's batch), then every throughput batch size not already timed."""
    return [1, *(b for b in config.throughput_batches if b != 1)]


def pass_limits(config: MeasureConfig, batch: int) -> PassLimits:
    """The host passes' limits at the same batch: batch 1 gets the latency pass's, larger
    batches the throughput passes' (with their shorter warm-up cap)."""
    if batch == 1:
        return PassLimits(
            min_iterations=config.latency_min_iterations,
            min_seconds=config.latency_min_seconds,
            max_seconds=config.latency_max_seconds,
            target_ci=config.latency_target_ci,
            warmup_max_seconds=config.warmup_max_seconds,
        )
    return PassLimits(
        min_iterations=config.throughput_min_iterations,
        min_seconds=config.throughput_min_seconds,
        max_seconds=config.throughput_max_seconds,
        target_ci=config.latency_target_ci,
        warmup_max_seconds=throughput_warmup_cap(config),
    )


class GpuMeter(Meter):
    """Device-side timing of a GPU session; a CPU session's ``Unavailable`` is its answer."""

    key, field, speed = "gpu", "gpu", True

    def __init__(self, open_nvml: NvmlOpener = _open, clock: Clock = time.perf_counter) -> None:
        self.open_nvml = open_nvml
        self.clock = clock

    def measure(self, run: MeasureRun) -> GpuMeasurement | Unavailable:
        gpu = getattr(run.session, "gpu", None)
        if gpu is None:
            return NO_GPU_METHOD
        access = gpu()
        if isinstance(access, Unavailable):
            return access
        notes: list[str] = []
        reader = self.open_nvml(access)
        if isinstance(reader, Unavailable):
            notes.append(
                f"no NVML: clocks, power and process memory unavailable ({reader.reason})"
            )
            nvml = None
        else:
            nvml = reader
            if access.pci_bus_id and not nvml.found_by.startswith("pci"):
                notes.append(f"NVML read the GPU at {nvml.found_by}: its clocks and memory may "
                             "be another device's")
        passes = [
            measure_pass(
                access,
                run.timing_images,
                batch,
                pass_limits(run.config, batch),
                nvml,
                self.clock,
            )
            for batch in batch_sizes(run.config)
        ]
        return _combine(access, passes, notes)


def _combine(access: GpuAccess, passes: list[GpuPass], notes: list[str]) -> GpuMeasurement:
    """One block from the passes: the largest memory figures, the state before the first pass
    and after the last, every pass's notes."""
    peaks = [p.timing.allocator_peak_mb for p in passes if p.timing.allocator_peak_mb is not None]
    memory = max(
        (p.process_memory for p in passes if p.process_memory is not None),
        key=lambda m: m.mb,
        default=None,
    )
    return GpuMeasurement(
        device_name=access.device_name,
        pci_bus_id=access.pci_bus_id,
        runtime=access.runtime,
        timings=[p.timing for p in passes],
        allocator_peak_mb=max(peaks) if peaks else None,
        process_memory_mb=memory.mb if memory else None,
        process_memory_source=memory.source if memory else None,
        state_before=passes[0].state_before if passes else None,
        state_after=passes[-1].state_after if passes else None,
        notes=[*notes, *(note for p in passes for note in p.notes)],
    )


__all__ = ["NO_GPU_METHOD", "GpuMeter", "batch_sizes", "pass_limits"]
