"""The NVML reader on a fake ``pynvml``: values and units, decoding, per-field failures,
fallbacks, one-line reasons, and the energy counters built on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpu_fakes import FakeNvml, process
from quantarena.measure.energy import NO_SENSOR, EnergyCounters
from quantarena.measure.nvml import NvmlDevice, decode_reasons, open_all, open_device
from quantarena.results.measurements import Unavailable

BUS = "00000000:1B:00.0"


def _open(fake: FakeNvml, bus: str | None = BUS, index: int = 0) -> NvmlDevice:
    device = open_device(bus, index, load=lambda: fake)
    assert isinstance(device, NvmlDevice), device
    return device


def test_state_reads_every_field_in_its_unit() -> None:
    fake = FakeNvml(pstate=2, reasons=0x4 | 0x1, sm_clocks=[1755])
    state = _open(fake).state()
    assert state.sm_clock_mhz == 1755 and state.mem_clock_mhz == 2619
    assert state.max_sm_clock_mhz == 1980 and state.pstate == "P2"
    assert state.power_w == pytest.approx(312.5) and state.power_limit_w == pytest.approx(700.0)
    assert state.temperature_c == 54
    assert state.throttle_reasons == ["gpu idle", "sw power cap"]


def test_reasons_decode_with_the_real_pynvml_constants() -> None:
    import pynvml

    assert decode_reasons(pynvml, 0) == []
    assert decode_reasons(pynvml, 0x4 | 0x40) == ["sw power cap", "hw thermal slowdown"]
    # 0x200 exists only under the older throttle names; an unknown bit is kept by value.
    assert decode_reasons(pynvml, 0x200 | 0x10000) == ["board limit", "unknown reason 0x10000"]


def test_older_pynvml_reads_the_throttle_reasons_function() -> None:
    fake = FakeNvml(reasons=0x204, missing={"nvmlDeviceGetCurrentClocksEventReasons"})
    assert _open(fake).throttle_reasons() == ["sw power cap", "board limit"]
    assert "throttle_reasons" in fake.calls and "event_reasons" not in fake.calls
    current = FakeNvml(reasons=0x8)
    assert _open(current).throttle_reasons() == ["hw slowdown"]
    assert "event_reasons" in current.calls and "throttle_reasons" not in current.calls


def test_a_failing_read_is_none_for_its_field_only() -> None:
    fake = FakeNvml(failing={"power", "temperature", "event_reasons"}, pstate=32)
    device = _open(fake)
    state = device.state()
    assert state.power_w is None and state.temperature_c is None
    assert state.throttle_reasons is None and state.pstate is None  # 32: NVML's "unknown"
    assert state.sm_clock_mhz == 1980 and state.power_limit_w == pytest.approx(700.0)
    assert "NVML error 3" in device.problems["power"]
    fake.failing.clear()
    assert device.state().power_w == pytest.approx(312.5)
    assert "power" not in device.problems  # a later good read clears the reason


def test_energy_counter_in_millijoules_and_a_gpu_without_one() -> None:
    fake = FakeNvml(energy_mj=123_456)
    device = _open(fake)
    assert device.energy_mj() == 123_456
    fake.failing.add("energy")
    assert device.energy_mj() is None
    assert device.problems["energy"].startswith("nvmlDeviceGetTotalEnergyConsumption")


def test_process_memory_is_this_process_else_the_whole_device() -> None:
    mine = FakeNvml(processes=[process(1, 900.0), process(os.getpid(), 512.0)])
    memory = _open(mine).process_memory()
    assert memory is not None and memory.mb == pytest.approx(512.0)
    assert memory.source == "nvml (this process)"
    others = FakeNvml(processes=[process(1, 900.0), process(os.getpid(), None)])
    memory = _open(others).process_memory()
    assert memory is not None and memory.mb == pytest.approx(3 * 1024.0)
    assert "whole GPU, includes other processes" in memory.source
    broken = FakeNvml(failing={"processes", "memory_info"})
    assert _open(broken).process_memory() is None


def test_device_found_by_pci_bus_id_then_by_index() -> None:
    fake = FakeNvml(pci={BUS: "h1"}, handles=["h0", "h1"])
    by_bus = _open(fake, BUS, index=0)
    assert by_bus.handle == "h1" and by_bus.found_by == f"pci bus id {BUS}"
    by_index = _open(fake, "00000000:99:00.0", index=0)
    assert by_index.handle == "h0" and by_index.found_by.startswith("index 0 (no device at")
    no_bus = _open(fake, None, index=1)
    assert no_bus.handle == "h1" and no_bus.found_by == "index 1"


@pytest.mark.parametrize(
    ("init_error", "expected"),
    [
        (12, "libnvidia-ml.so.1) was not found"),
        (9, "no NVIDIA driver is loaded"),
        (4, "no permission"),
        (999, "NVML did not start: NVML error 999"),
    ],
)
def test_init_failures_are_one_line_reasons(init_error: int, expected: str) -> None:
    result = open_device(BUS, 0, load=lambda: FakeNvml(init_error=init_error))
    assert isinstance(result, Unavailable) and expected in result.reason
    assert "\n" not in result.reason
    assert isinstance(open_all(load=lambda: FakeNvml(init_error=init_error)), Unavailable)


def test_missing_package_and_missing_device_are_reasons() -> None:
    def no_module() -> FakeNvml:
        raise ImportError("No module named 'pynvml'")

    missing = open_device(BUS, 0, load=no_module)
    assert isinstance(missing, Unavailable) and "nvidia-ml-py (pynvml) is not installed" in (
        missing.reason
    )
    nowhere = open_device("00000000:99:00.0", 3, load=lambda: FakeNvml())
    assert isinstance(nowhere, Unavailable)
    assert nowhere.reason.startswith("NVML found no device (PCI bus id 00000000:99:00.0")
    assert "index 3" in nowhere.reason


def test_on_this_machine_opening_never_raises() -> None:
    """The real pynvml without a driver (or a GPU): a reason or a device, never an exception."""
    result = open_device(BUS, 0)
    assert isinstance(result, (Unavailable, NvmlDevice))


def _counters(*fakes: FakeNvml, rapl: list[Path] | None = None) -> EnergyCounters:
    devices = []
    for fake in fakes:
        found = open_all(load=lambda fake=fake: fake)
        assert isinstance(found, list)
        devices.extend(found)
    return EnergyCounters(rapl=rapl or [], nvml=devices)


def test_energy_counters_turn_millijoules_into_joules() -> None:
    fake = FakeNvml(energy_mj=5_000_000)
    counters = _counters(fake)
    assert counters.available
    counters.start()
    fake.energy_mj += 45_250  # 45.25 J over the window
    result = counters.stop()
    assert result is not None
    joules, sources = result
    assert joules == pytest.approx(45.25) and sources == ["nvml (whole GPU)"]
    assert counters.problem is None


def test_a_window_too_short_for_the_counter_is_not_zero_joules() -> None:
    fake = FakeNvml(energy_mj=5_000_000)
    counters = _counters(fake)
    counters.start()
    assert counters.stop() is None  # the counter did not move: no measurement, not 0 J
    assert counters.problem is not None and "did not move" in counters.problem
    assert "too short" in counters.problem


def test_rapl_still_counts_when_the_gpu_counter_did_not_move(tmp_path: Path) -> None:
    domain = tmp_path / "intel-rapl:0"
    domain.mkdir()
    (domain / "energy_uj").write_text("1000000")
    counters = _counters(FakeNvml(), rapl=[domain])
    counters.start()
    (domain / "energy_uj").write_text("3500000")
    result = counters.stop()
    assert result is not None
    joules, sources = result
    assert joules == pytest.approx(2.5)
    assert sources[0].startswith("rapl") and "did not move" in sources[1]


def test_two_gpus_one_of_which_did_not_move() -> None:
    moving, still = FakeNvml(energy_mj=0), FakeNvml(energy_mj=0)
    counters = _counters(moving, still)
    counters.start()
    moving.energy_mj = 2_000
    result = counters.stop()
    assert result is not None and result[0] == pytest.approx(2.0)
    assert result[1] == ["nvml (2 whole GPUs, 1 of them not counted: counter did not move)"]


def test_no_counter_at_all_says_so() -> None:
    counters = EnergyCounters(rapl=[], nvml=[])
    counters.start()
    assert not counters.available and counters.stop() is None and counters.problem == NO_SENSOR
