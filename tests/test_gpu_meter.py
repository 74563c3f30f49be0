"""The GPU meter in the measuring sequence: CPU sessions answer with their reason, a GPU session
(fake device, fake NVML) fills one typed block with a timing per batch size, an old plug-in's
session without ``gpu()`` gets its own reason; the block goes through results files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpu_fakes import FakeDevice, FakeNvml, images, process
from quantarena.config import MeasureConfig
from quantarena.measure.gpu_access import GpuAccess
from quantarena.measure.gpu_meter import NO_GPU_METHOD, GpuMeter, batch_sizes, pass_limits
from quantarena.measure.meters import MeasureRun, default_meters, measure_all
from quantarena.measure.nvml import NvmlDevice, open_device
from quantarena.results.gpu import GpuMeasurement
from quantarena.results.io import load_results, save_results
from quantarena.results.measurements import RUNS_ON_CPU, Unavailable
from quantarena.results.schema import Measurements

FIXTURE = Path(__file__).parent / "fixtures" / "mobilenet_v2-avx512-vnni-run"
QUICK = MeasureConfig(
    latency_min_iterations=5,
    latency_min_seconds=0.0,
    latency_max_seconds=0.2,
    warmup_max_seconds=0.1,
    throughput_batches=[4, 1],
    throughput_min_iterations=2,
    throughput_min_seconds=0.0,
    throughput_max_seconds=0.2,
)


class FakeGpuSession:
    def __init__(self, device: FakeDevice) -> None:
        self.device = device

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch), 10), dtype=np.float32)

    def gpu(self) -> GpuAccess:
        return self.device.access()


class OldPluginSession:
    """A plug-in session written before ``Session.gpu`` existed."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch), 10), dtype=np.float32)


def _run(session: object, tmp_path: Path, **extra: object) -> MeasureRun:
    settings: dict[str, object] = {
        "session": session,
        "config": QUICK,
        "timing_images": images(),
        "evaluation": tmp_path / "evaluation.npy",
        "predictions_path": tmp_path / "p.npz",
        "rss_before_load_mb": 100.0,
        "rss_after_load_mb": 150.0,
    }
    settings.update(extra)
    return MeasureRun(**settings)  # type: ignore[arg-type]


def _opener(fake: FakeNvml):  # type: ignore[no-untyped-def]
    def open_nvml(access: GpuAccess) -> NvmlDevice | Unavailable:
        return open_device(access.pci_bus_id, access.device_index, load=lambda: fake)

    return open_nvml


def test_a_cpu_session_gives_its_reason_and_the_meter_sits_after_throughput(
    tmp_path: Path,
) -> None:
    import torch

    from quantarena.toolchains.pytorch.runtime import TorchModuleSession

    session = TorchModuleSession(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10)))
    meters = default_meters()
    assert [m.key for m in meters[:4]] == ["latency", "throughput", "gpu", "memory"]
    measured = measure_all(_run(session, tmp_path), meters[:3])
    assert measured.latency_ms is not None and measured.gpu is None
    assert measured.unavailable == {"gpu": RUNS_ON_CPU.reason}
    assert "runs on the CPU" in measured.unavailable["gpu"]


def test_a_session_without_gpu_gets_the_plug_in_reason(tmp_path: Path) -> None:
    measured = measure_all(_run(OldPluginSession(), tmp_path), [GpuMeter()])
    assert measured.unavailable["gpu"] == NO_GPU_METHOD.reason
    assert "does not implement gpu()" in measured.unavailable["gpu"]


def test_declared_speed_unavailability_skips_the_gpu_meter(tmp_path: Path) -> None:
    device = FakeDevice()
    run = _run(FakeGpuSession(device), tmp_path, speed_unavailable="simulated on the CPU")
    measured = measure_all(run, [GpuMeter()])
    assert measured.unavailable["gpu"] == "simulated on the CPU" and device.calls == 0


def test_a_gpu_session_fills_one_timing_per_batch(tmp_path: Path) -> None:
    device = FakeDevice(compute_ms=lambda call, batch: 0.5 + 0.25 * batch)
    fake = FakeNvml(processes=[process(1, 100.0)], reasons=0x1)  # idle reason: not a slowdown
    meter = GpuMeter(open_nvml=_opener(fake), clock=device.clock)
    measured = measure_all(_run(FakeGpuSession(device), tmp_path), [meter])
    gpu = measured.gpu
    assert isinstance(gpu, GpuMeasurement) and "gpu" not in measured.unavailable
    assert gpu.device_name == "Fake GPU 80GB" and gpu.pci_bus_id == "00000000:1B:00.0"
    assert gpu.runtime == "fake runtime 1.0"
    assert [t.batch for t in gpu.timings] == [1, 4]  # batch 1 first, not timed twice
    one, four = gpu.timings
    assert one.compute_ms.p50 == pytest.approx(0.75) and four.compute_ms.p50 == pytest.approx(1.5)
    assert four.h2d_ms.p50 == pytest.approx(0.4) and four.d2h_ms.p50 == pytest.approx(0.2)
    assert one.min_iterations == 5 and four.min_iterations == 2
    assert one.stop_reason == four.stop_reason == "ci_target" and one.calls == 10
    assert device.resets == 2
    assert gpu.allocator_peak_mb == pytest.approx(10.0 + 4 * 192 / 2**20)  # the batch-4 pass
    assert gpu.process_memory_mb == pytest.approx(3 * 1024.0)  # this pid is not listed
    assert gpu.process_memory_source == "nvml (whole GPU, includes other processes)"
    assert gpu.state_before is not None and gpu.state_before.throttle_reasons == ["gpu idle"]
    assert gpu.state_after is not None and gpu.state_after.pstate == "P0"
    assert gpu.notes == [] and measured.notes == []
    line = gpu.one_line()
    assert "compute p50 0.750 ms at batch 1" in line and "copy in 0.100 ms" in line
    assert "3072 MiB nvml (whole GPU" in line


def test_the_meter_says_what_it_could_not_read(tmp_path: Path) -> None:
    device = FakeDevice(allocator=False)
    meter = GpuMeter(open_nvml=_opener(FakeNvml(init_error=9)), clock=device.clock)
    measured = measure_all(_run(FakeGpuSession(device), tmp_path), [meter])
    gpu = measured.gpu
    assert isinstance(gpu, GpuMeasurement)
    assert gpu.allocator_peak_mb is None and gpu.process_memory_mb is None
    assert gpu.state_before is None and gpu.timings[0].warmup_sm_clock_mhz == []
    expected = "no NVML: clocks, power and process memory unavailable (NVML unavailable: no NVIDIA "
    assert gpu.notes[0].startswith(expected)
    assert gpu.notes[0] in measured.notes  # surfaces on the row like every block's notes


def test_a_throttled_pass_and_an_index_fallback_are_noted(tmp_path: Path) -> None:
    device = FakeDevice()
    fake = FakeNvml(pci={}, reasons=0x4 | 0x20)
    meter = GpuMeter(open_nvml=_opener(fake), clock=device.clock)
    config = QUICK.model_copy(update={"throughput_batches": []})
    gpu = measure_all(_run(FakeGpuSession(device), tmp_path, config=config), [meter]).gpu
    assert gpu is not None and [t.batch for t in gpu.timings] == [1]
    assert gpu.notes == [
        "NVML read the GPU at index 0 (no device at PCI bus id 00000000:1B:00.0: NVML error 6): "
        "its clocks and memory may be another device's",
        "GPU batch-1 pass: the GPU was throttling at its end: sw power cap, sw thermal slowdown",
    ]


def test_batch_sizes_and_limits_follow_the_host_passes() -> None:
    config = MeasureConfig(throughput_batches=[32, 1, 8], warmup_max_seconds=12.0)
    assert batch_sizes(config) == [1, 32, 8]
    first, large = pass_limits(config, 1), pass_limits(config, 32)
    assert (first.min_iterations, first.max_seconds) == (50, 20.0)
    assert first.warmup_max_seconds == 12.0 and first.target_ci == config.latency_target_ci
    assert (large.min_iterations, large.min_seconds, large.max_seconds) == (5, 3.0, 15.0)
    assert large.warmup_max_seconds == 5.0


def test_the_block_round_trips_and_old_files_load_without_it(tmp_path: Path) -> None:
    device = FakeDevice()
    meter = GpuMeter(open_nvml=_opener(FakeNvml(reasons=0x4)), clock=device.clock)
    measured = measure_all(_run(FakeGpuSession(device), tmp_path), [meter])
    restored = Measurements.model_validate_json(measured.model_dump_json())
    assert restored.gpu == measured.gpu and restored.gpu is not None
    assert restored.measurement_notes() == measured.notes != []
    old = load_results(FIXTURE)  # written before the block existed (read only)
    assert old.variants and all(v.gpu is None and "gpu" not in v.unavailable for v in old.variants)
    old.variants[0].gpu = measured.gpu
    again = load_results(save_results(old, tmp_path))
    assert again.variants[0].gpu == measured.gpu
