"""Device-side GPU measurements: the three phases of a call timed with events on the session's
stream, the GPU's state around each pass (NVML), and its memory.

A host timer sees a GPU call as one number. These blocks keep the parts apart, because they answer
different questions: ``compute`` is the model on the device (what a quantized engine changes),
``h2d``/``d2h`` are the copies (fixed by the batch's bytes and the bus, whatever the model), and
``call`` is what the caller waits for (all three, plus staging and the synchronize). The GPU's
clocks, power cap and temperature decide how fast the same kernels run, so they are stored with
the timings and notes say when they moved.

Only NumPy and pydantic are needed here, so reading results needs no GPU library.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from quantarena.measure.stats import median_ci
from quantarena.results.measurements import MIN_CI_CALLS, Block, _too_few


class GpuState(Block):
    """What NVML said about the device at one moment. ``None``: that read failed or the device
    does not report it (each read fails alone)."""

    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    max_sm_clock_mhz: int | None = None
    pstate: str | None = None  # "P0" (fastest) .. "P15"
    power_w: float | None = None
    power_limit_w: float | None = None  # the enforced limit
    temperature_c: int | None = None
    #: NVML's clock event (throttle) reasons, decoded ("sw power cap", "gpu idle" ...); ``[]``:
    #: none active; ``None``: not readable
    throttle_reasons: list[str] | None = None


class PhaseMs(Block):
    """One phase's per-call times, milliseconds."""

    p50: float
    p99: float
    mean: float

    @classmethod
    def of(cls, ms: Sequence[float]) -> PhaseMs:
        values = np.asarray(ms, dtype=np.float64)
        p50, p99 = (float(v) for v in np.percentile(values, [50, 99]))
        return cls(p50=p50, p99=p99, mean=float(values.mean()))


class GpuTiming(Block):
    """One pass at one batch size: each phase from events on the session's stream, ``call`` from
    the host clock around the whole call (staging, the three phases and the synchronize)."""

    batch: int
    calls: int
    seconds: float
    h2d_ms: PhaseMs
    compute_ms: PhaseMs
    d2h_ms: PhaseMs
    call_ms: PhaseMs
    #: 95% CI of the compute median (empty below ``MIN_CI_CALLS`` calls)
    compute_p50_ci95: list[float]
    stop_reason: str  # "ci_target" | "time_cap"
    min_iterations: int | None = None
    warmup_iterations: int
    warmup_seconds: float
    #: both the compute median and the SM clock settled before the warm-up cap
    warmup_settled: bool
    #: the SM clock (MHz) read after each warm-up window; empty without NVML
    warmup_sm_clock_mhz: list[int] = []
    #: the caching allocator's peak over this pass (MiB); ``None`` outside such an allocator
    allocator_peak_mb: float | None = None

    @classmethod
    def from_samples(
        cls,
        h2d: Sequence[float],
        compute: Sequence[float],
        d2h: Sequence[float],
        call: Sequence[float],
        **facts: object,
    ) -> GpuTiming:
        """Statistics of per-call phase times (ms); ``facts`` fill the other fields."""
        ci = list(median_ci(np.asarray(compute))) if len(compute) >= MIN_CI_CALLS else []
        return cls.model_validate(
            {
                "calls": len(compute),
                "h2d_ms": PhaseMs.of(h2d),
                "compute_ms": PhaseMs.of(compute),
                "d2h_ms": PhaseMs.of(d2h),
                "call_ms": PhaseMs.of(call),
                "compute_p50_ci95": ci,
                **facts,
            }
        )

    def row_notes(self) -> list[str]:
        """A pass the time cap stopped below its minimum count says so, as host passes do."""
        short = _too_few(
            self.calls,
            self.min_iterations,
            self.stop_reason,
            f"GPU batch-{self.batch} call",
            f"GPU batch-{self.batch} calls",
        )
        return [short] if short else []


class GpuMeasurement(Block):
    """A GPU session measured on its device: one timing per batch size (batch 1 first), memory,
    the device's state before the first pass and after the last, and what deserves a note."""

    device_name: str
    pci_bus_id: str | None = None
    runtime: str = ""
    timings: list[GpuTiming]
    #: the largest caching-allocator peak of the passes (MiB); ``None`` when the runtime
    #: allocates outside it
    allocator_peak_mb: float | None = None
    #: GPU memory NVML attributes to this process (MiB), the largest read after a pass
    process_memory_mb: float | None = None
    #: where ``process_memory_mb`` comes from: "nvml (this process)", or the whole device
    #: (other processes included) where NVML does not list this process
    process_memory_source: str | None = None
    state_before: GpuState | None = None
    state_after: GpuState | None = None
    notes: list[str] = []

    def timing(self, batch: int) -> GpuTiming | None:
        return next((t for t in self.timings if t.batch == batch), None)

    def one_line(self) -> str:
        """A summary for reports: compute p50 at batch 1, the copies, the call, memory."""
        first = self.timing(1) or (self.timings[0] if self.timings else None)
        parts = [self.device_name]
        if first is not None:
            parts.append(
                f"compute p50 {first.compute_ms.p50:.3f} ms at batch {first.batch} "
                f"(copy in {first.h2d_ms.p50:.3f} ms, out {first.d2h_ms.p50:.3f} ms, "
                f"call {first.call_ms.p50:.3f} ms)"
            )
        memory = []
        if self.allocator_peak_mb is not None:
            memory.append(f"allocator peak {self.allocator_peak_mb:.0f} MiB")
        if self.process_memory_mb is not None:
            memory.append(f"{self.process_memory_mb:.0f} MiB {self.process_memory_source}")
        if memory:
            parts.append(", ".join(memory))
        return "; ".join(parts)

    def row_notes(self) -> list[str]:
        return [*self.notes, *(note for t in self.timings for note in t.row_notes())]


__all__ = ["GpuMeasurement", "GpuState", "GpuTiming", "PhaseMs"]
