"""The GPU section of report.md and report.html: for every variant that ran on a GPU, what the
device did (events on the session's stream) beside what a caller waited for (the host timer),
memory on the device, energy from NVML, and the clock state the numbers were taken at.

The headline table stays the same for every run; this section appears only when some variant has
a ``gpu`` block, so a CPU report carries no empty GPU columns.
"""

from __future__ import annotations

from quantarena.report import table_section
from quantarena.results.gpu import GpuMeasurement, GpuTiming
from quantarena.results.schema import Results, VariantResult

DASH = "–"

HEADERS = [
    "Variant", "GPU", "compute p50 / p99 ms @1", "copy in / out ms @1", "call p50 ms @1",
    "compute p50 ms @N", "img/s @N (device)", "allocator peak MiB", "process MiB", "J/img",
    "SM clock MHz", "P-state",
]

NOTE = (
    "compute: CUDA events on the session's stream around the model alone; copy in / out: events "
    "around the host-to-device and device-to-host copies; call: host timer around the whole "
    "synchronised call (what a caller waits for). @N: the largest throughput batch; img/s there "
    "is N / compute p50. Memory: the caching allocator's peak (torch only) and NVML's per-process "
    "figure. Energy: the hardware counters over the largest throughput window (NVML's for the "
    "GPU, plus RAPL's CPU package where readable; results.json lists the sources). Clock and "
    "P-state as read after the last pass."
)


def _ms(value: float | None, fmt: str = ".3f") -> str:
    return DASH if value is None else format(value, fmt)


def _largest(gpu: GpuMeasurement) -> GpuTiming | None:
    return max(gpu.timings, key=lambda t: t.batch) if gpu.timings else None


def gpu_row(variant: VariantResult) -> list[str] | None:
    """The variant's GPU row, or ``None`` when it has no GPU measurement."""
    gpu = variant.gpu
    if gpu is None:
        return None
    one = gpu.timing(1)
    big = _largest(gpu)
    state = gpu.state_after
    energy = variant.energy
    return [
        variant.name,
        gpu.device_name,
        f"{_ms(one.compute_ms.p50)} / {_ms(one.compute_ms.p99)}" if one else DASH,
        f"{_ms(one.h2d_ms.p50)} / {_ms(one.d2h_ms.p50)}" if one else DASH,
        _ms(one.call_ms.p50) if one else DASH,
        f"{_ms(big.compute_ms.p50)} @{big.batch}" if big else DASH,
        (f"{big.batch * 1000 / big.compute_ms.p50:.0f} @{big.batch}"
         if big and big.compute_ms.p50 > 0 else DASH),
        _ms(gpu.allocator_peak_mb, ".0f"),
        _ms(gpu.process_memory_mb, ".0f"),
        f"{energy.joules_per_image:.4f}" if energy is not None else DASH,
        str(state.sm_clock_mhz) if state and state.sm_clock_mhz is not None else DASH,
        state.pstate if state and state.pstate else DASH,
    ]


def gpu_rows(results: Results) -> list[list[str]]:
    return [row for v in results.variants if (row := gpu_row(v)) is not None]


def markdown_section(results: Results) -> list[str]:
    return table_section.markdown_section("GPU", NOTE, HEADERS, gpu_rows(results))


def html_section(results: Results) -> str:
    return table_section.html_section("GPU", NOTE, HEADERS, gpu_rows(results))
