"""The GPU section of the reports: present only when a variant ran on a GPU, one row per such
variant, with the device's phases beside the host's call, memory, energy and the clock state."""

from __future__ import annotations

from quantarena.report.gpu import HEADERS, gpu_rows
from quantarena.report.html import render_html
from quantarena.report.markdown import render_markdown
from quantarena.results.gpu import GpuMeasurement, GpuState, GpuTiming
from quantarena.results.measurements import Energy
from test_report_html import make_report_results


def _timing(batch: int, compute: list[float]) -> GpuTiming:
    return GpuTiming.from_samples(
        [0.05] * len(compute), compute, [0.02] * len(compute), [c + 0.1 for c in compute],
        batch=batch, seconds=1.0, stop_reason="ci_target", warmup_iterations=10,
        warmup_seconds=0.2, warmup_settled=True,
    )


def test_a_cpu_run_has_no_gpu_section() -> None:
    results = make_report_results()
    assert gpu_rows(results) == []
    assert "## GPU" not in render_markdown(results)
    assert "<h2>GPU</h2>" not in render_html(results)


def test_a_gpu_variant_gets_its_row_in_both_reports() -> None:
    results = make_report_results()
    variant = results.variants[0]
    variant.gpu = GpuMeasurement(
        device_name="NVIDIA H100 80GB HBM3",
        timings=[_timing(1, [0.9, 1.0, 1.1, 1.0, 1.0]), _timing(64, [8.0, 8.0, 8.0, 8.0, 8.0])],
        allocator_peak_mb=412.4, process_memory_mb=980.0,
        process_memory_source="nvml (this process)",
        state_after=GpuState(sm_clock_mhz=1980, pstate="P0"),
    )
    variant.energy = Energy(batch=64, images=6400, window_s=3.0, joules_per_image=0.0123,
                            sources=["nvml (whole GPU)"])
    rows = gpu_rows(results)
    assert len(rows) == 1 and len(rows[0]) == len(HEADERS)
    row = dict(zip(HEADERS, rows[0], strict=True))
    assert row["Variant"] == variant.name and row["GPU"] == "NVIDIA H100 80GB HBM3"
    assert row["compute p50 / p99 ms @1"].startswith("1.000 / ")
    assert row["copy in / out ms @1"] == "0.050 / 0.020"
    assert row["call p50 ms @1"] == "1.100"
    assert row["compute p50 ms @N"] == "8.000 @64"
    assert row["img/s @N (device)"] == "8000 @64"
    assert (row["allocator peak MiB"], row["process MiB"]) == ("412", "980")
    assert row["J/img"] == "0.0123"
    assert (row["SM clock MHz"], row["P-state"]) == ("1980", "P0")
    markdown = render_markdown(results)
    assert "## GPU" in markdown and "| NVIDIA H100 80GB HBM3 |" in markdown
    assert "<h2>GPU</h2>" in render_html(results)
