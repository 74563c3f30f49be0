"""Phase timing with events on a fake stream: exact phase times, warm-up until the compute time
and the SM clock settle, the stop rule, the allocator peak and NVML state around a pass."""

from __future__ import annotations

import pytest

from gpu_fakes import FakeDevice, FakeNvml, images, process
from quantarena.measure.cuda_events import (
    PassLimits,
    measure_pass,
    pass_inputs,
    time_call,
    time_device_calls,
    warm_up_device,
)
from quantarena.measure.nvml import NvmlDevice, open_device

EASY = PassLimits(
    min_iterations=20, min_seconds=0.0, max_seconds=1e6, target_ci=0.01, warmup_max_seconds=1e6
)


def _nvml(fake: FakeNvml) -> NvmlDevice:
    device = open_device("00000000:1B:00.0", 0, load=lambda: fake)
    assert isinstance(device, NvmlDevice)
    return device


def test_one_call_gives_each_phase_exactly() -> None:
    device = FakeDevice(h2d_ms=0.25, d2h_ms=0.125, stage_ms=0.5, sync_ms=0.0625)
    device.compute_ms = lambda call, batch: 2.0 * batch
    access = device.access()
    times = time_call(access, images()[:4], device.clock)
    assert times.h2d_ms == pytest.approx(1.0)  # 0.25 ms per image, 4 images
    assert times.compute_ms == pytest.approx(8.0)
    assert times.d2h_ms == pytest.approx(0.5)
    # the host sees staging, the three phases and the synchronize
    assert times.call_ms == pytest.approx(0.5 + 1.0 + 8.0 + 0.5 + 0.0625)
    assert device.events == 4 and device.batches == [4]


def test_warm_up_waits_for_the_compute_time_to_settle() -> None:
    # window medians 4, 2, 1, 1 ms (the first calls compile, caches fill), then steady
    device = FakeDevice(compute_ms=lambda call, batch: max(1.0, 4.0 / 2 ** (call // 5)))
    warm = warm_up_device(device.access(), pass_inputs(images(), 1), 1e6, None, device.clock)
    assert warm.settled and warm.windows == 4 and warm.iterations == 20
    device = FakeDevice(compute_ms=lambda call, batch: 5.0 / (1 + call // 5))  # keeps falling
    warm = warm_up_device(device.access(), pass_inputs(images(), 1), 0.1, None, device.clock)
    assert not warm.settled and warm.seconds >= 0.1


def test_warm_up_waits_for_the_sm_clock_to_settle() -> None:
    fake = FakeNvml(sm_clocks=[600, 1200, 1800, 1980, 1990, 1990])
    device = FakeDevice()  # compute is steady from the first call
    warm = warm_up_device(
        device.access(), pass_inputs(images(), 1), 1e6, _nvml(fake), device.clock
    )
    # 1800 -> 1980 is 10%; 1980 -> 1990 is within 2%: settled after the 5th window
    assert warm.settled and warm.windows == 5 and warm.iterations == 25
    assert warm.sm_clock_mhz == [600, 1200, 1800, 1980, 1990]
    # without NVML the same device settles on compute alone, after 2 windows
    plain = warm_up_device(FakeDevice().access(), pass_inputs(images(), 1), 1e6)
    assert plain.windows == 2 and plain.sm_clock_mhz == []


def test_a_clock_that_never_settles_hits_the_warm_up_cap() -> None:
    fake = FakeNvml(sm_clocks=[1000 + 100 * i for i in range(1000)])
    device = FakeDevice()
    warm = warm_up_device(
        device.access(), pass_inputs(images(), 1), 0.05, _nvml(fake), device.clock
    )
    # 5 calls of 1.18 ms per window: the cap (50 ms) is passed in the 9th window
    assert not warm.settled and warm.windows == 9 and len(warm.sm_clock_mhz) == 9


def test_an_unreadable_clock_does_not_hold_warm_up_back() -> None:
    fake = FakeNvml(failing={"sm_clock"})
    device = FakeDevice()
    warm = warm_up_device(
        device.access(), pass_inputs(images(), 1), 1e6, _nvml(fake), device.clock
    )
    assert warm.settled and warm.windows == 2 and warm.sm_clock_mhz == []


def test_steady_compute_stops_on_the_ci_target_with_exact_statistics() -> None:
    device = FakeDevice()
    timing = time_device_calls(device.access(), pass_inputs(images(), 1), EASY, None, device.clock)
    assert timing.stop_reason == "ci_target" and timing.calls == 20  # the first check
    assert timing.batch == 1 and timing.warmup_iterations == 10 and timing.warmup_settled
    assert timing.h2d_ms.p50 == pytest.approx(0.1) and timing.d2h_ms.p99 == pytest.approx(0.05)
    assert timing.compute_ms.mean == pytest.approx(1.0)
    assert timing.call_ms.p50 == pytest.approx(0.1 + 1.0 + 0.05 + 0.03)
    assert timing.compute_p50_ci95 == pytest.approx([1.0, 1.0])
    assert device.calls == 30  # 10 warm-up calls + 20 timed
    assert device.batches[:8] == [1] * 8


def test_the_minimum_duration_delays_the_ci_check() -> None:
    device = FakeDevice()
    limits = PassLimits(20, 0.05, 1e6, 0.01, 1e6)
    inputs = pass_inputs(images(), 1)
    timing = time_device_calls(device.access(), inputs, limits, None, device.clock)
    # 1.18 ms per call: 0.05 s is reached at call 43, the next check is at 50
    assert timing.stop_reason == "ci_target" and timing.calls == 50


def test_noisy_compute_runs_to_the_time_cap() -> None:
    device = FakeDevice(compute_ms=lambda call, batch: 1.0 if call % 2 == 0 else 3.0)
    limits = PassLimits(10, 0.0, 0.098, 0.001, 0.0)  # warm-up: one window, then the cap
    inputs = pass_inputs(images(), 1)
    timing = time_device_calls(device.access(), inputs, limits, None, device.clock)
    assert timing.stop_reason == "time_cap" and not timing.warmup_settled
    # after warm-up (5 calls) the calls alternate 3.18 / 1.18 ms: 45 of them pass 98 ms
    assert timing.calls == 45 and timing.seconds >= 0.098
    assert timing.compute_ms.p50 == pytest.approx(3.0) and timing.compute_ms.mean == pytest.approx(
        (23 * 3.0 + 22 * 1.0) / 45
    )


def test_batch_inputs_follow_the_host_passes() -> None:
    pool = images(count=70)
    single = pass_inputs(pool, 1)
    assert len(single) == 64 and all(x.shape == (1, 3, 4, 4) for x in single)
    assert not (single[0] == single[1]).all()
    batched = pass_inputs(images(count=3), 8)
    assert len(batched) == 1 and batched[0].shape == (8, 3, 4, 4)


def test_a_pass_resets_and_reads_the_allocator_peak_and_nvml_around_it() -> None:
    fake = FakeNvml(
        sm_clocks=[345, 1980, 1980, 1700],  # idle before, settled in warm-up, lower at the end
        reasons=0x4,
        processes=[process(12345, 800.0)],
    )
    nvml = _nvml(fake)
    nvml.pid = 12345
    device = FakeDevice(peak_mb=999.0)  # an earlier peak that must not count
    result = measure_pass(device.access(), images(), 8, EASY, nvml, device.clock)
    assert device.resets == 1
    assert result.timing.batch == 8 and device.batches == [8] * device.calls
    assert result.timing.allocator_peak_mb == pytest.approx(10.0 + 8 * 3 * 4 * 4 * 4 / 2**20)
    assert result.state_before is not None and result.state_before.sm_clock_mhz == 345
    assert result.state_after is not None and result.state_after.sm_clock_mhz == 1700
    assert result.timing.warmup_sm_clock_mhz == [1980, 1980]
    assert result.process_memory is not None and result.process_memory.mb == pytest.approx(800.0)
    assert result.notes == [
        "GPU batch-8 pass: SM clock moved -14% during the pass (1980 -> 1700 MHz)",
        "GPU batch-8 pass: the GPU was throttling at its end: sw power cap",
    ]


def test_a_pass_without_nvml_or_allocator() -> None:
    device = FakeDevice(allocator=False)
    result = measure_pass(device.access(), images(), 1, EASY, None, device.clock)
    assert result.timing.allocator_peak_mb is None and device.resets == 1
    assert result.state_before is None and result.state_after is None
    assert result.process_memory is None and result.notes == []
