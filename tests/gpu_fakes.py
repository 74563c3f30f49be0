"""Fakes for device-side GPU measurement on the CPU: a ``pynvml`` module with counters the test
moves, and a device whose stream events are stamped with a fake clock that each staged phase
advances by a known amount (so every phase time is known exactly)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from quantarena.measure.gpu_access import GpuAccess, StagedCall


class FakeNVMLError(Exception):
    """Shaped like ``pynvml.NVMLError``: a numeric ``value``."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


class FakeNvml:
    """A ``pynvml`` stand-in for one or two devices. ``sm_clocks`` are returned one per read, the
    last one repeating (a clock that ramps, then settles); ``failing`` names functions that raise
    Not Supported; ``missing`` names attributes that do not exist (an older pynvml)."""

    NVMLError = FakeNVMLError
    NVML_ERROR_NO_PERMISSION = 4
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NOT_FOUND = 6
    NVML_ERROR_DRIVER_NOT_LOADED = 9
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_TEMPERATURE_GPU = 0
    nvmlClocksEventReasonNone = 0x0
    nvmlClocksEventReasonGpuIdle = 0x1
    nvmlClocksEventReasonApplicationsClocksSetting = 0x2
    nvmlClocksEventReasonUserDefinedClocks = 0x2
    nvmlClocksEventReasonSwPowerCap = 0x4
    nvmlClocksEventReasonHwSlowdown = 0x8
    nvmlClocksEventReasonSwThermalSlowdown = 0x20
    nvmlClocksEventReasonAll = 0x2F
    nvmlClocksThrottleReasonSwPowerCap = 0x4
    nvmlClocksThrottleReasonBoardLimit = 0x200
    nvmlClocksThrottleReasonAll = 0x204

    def __init__(self, **overrides: Any) -> None:
        self.init_error: int | None = None
        self.pci = {"00000000:1B:00.0": "h0"}
        self.handles = ["h0"]
        self.energy_mj = 1_000_000
        self.sm_clocks = [1980]
        self.mem_clock = 2619
        self.max_sm = 1980
        self.pstate = 0
        self.power_mw = 312_500
        self.limit_mw = 700_000
        self.temperature = 54
        self.reasons = 0
        self.processes: list[Any] = []
        self.device_used = 3 * 2**30
        self.failing: set[str] = set()
        self.missing: set[str] = set()
        self.calls: list[str] = []
        for key, value in overrides.items():
            setattr(self, key, value)

    def __getattribute__(self, name: str) -> Any:
        if name in object.__getattribute__(self, "__dict__").get("missing", ()):
            raise AttributeError(name)
        return object.__getattribute__(self, name)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.failing:
            raise FakeNVMLError(self.NVML_ERROR_NOT_SUPPORTED)

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise FakeNVMLError(self.init_error)

    def nvmlDeviceGetCount(self) -> int:
        return len(self.handles)

    def nvmlDeviceGetHandleByPciBusId(self, bus_id: str) -> str:
        if bus_id not in self.pci:
            raise FakeNVMLError(self.NVML_ERROR_NOT_FOUND)
        return self.pci[bus_id]

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        if index >= len(self.handles):
            raise FakeNVMLError(self.NVML_ERROR_NOT_FOUND)
        return self.handles[index]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:
        self._call("energy")
        return self.energy_mj

    def nvmlDeviceGetClockInfo(self, handle: str, clock: int) -> int:
        if clock == self.NVML_CLOCK_SM:
            self._call("sm_clock")
            return self.sm_clocks.pop(0) if len(self.sm_clocks) > 1 else self.sm_clocks[0]
        self._call("mem_clock")
        return self.mem_clock

    def nvmlDeviceGetMaxClockInfo(self, handle: str, clock: int) -> int:
        self._call("max_clock")
        return self.max_sm

    def nvmlDeviceGetPerformanceState(self, handle: str) -> int:
        self._call("pstate")
        return self.pstate

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:
        self._call("power")
        return self.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: str) -> int:
        self._call("power_limit")
        return self.limit_mw

    def nvmlDeviceGetTemperature(self, handle: str, sensor: int) -> int:
        self._call("temperature")
        return self.temperature

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: str) -> int:
        self._call("event_reasons")
        return self.reasons

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: str) -> int:
        self._call("throttle_reasons")
        return self.reasons

    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list[Any]:
        self._call("processes")
        return self.processes

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> Any:
        self._call("memory_info")
        return SimpleNamespace(used=self.device_used, total=80 * 2**30, free=0)


def process(pid: int, mib: float | None) -> Any:
    """An entry of ``nvmlDeviceGetComputeRunningProcesses``."""
    return SimpleNamespace(pid=pid, usedGpuMemory=None if mib is None else int(mib * 2**20))


@dataclass
class FakeEvent:
    t_ms: float

    def elapsed_time(self, end: FakeEvent) -> float:
        return end.t_ms - self.t_ms

    def synchronize(self) -> None:
        pass


@dataclass
class FakeDevice:
    """A device whose stream time (ms) only moves when a phase runs: copy in takes ``h2d_ms`` per
    image, compute ``compute_ms(call, batch)``, copy out ``d2h_ms`` per image, staging
    ``stage_ms`` and the synchronize ``sync_ms``. ``clock`` reads the same time in seconds, so
    host timers see exactly the phases plus staging and synchronize."""

    compute_ms: Callable[[int, int], float] = lambda call, batch: 1.0
    h2d_ms: float = 0.1
    d2h_ms: float = 0.05
    stage_ms: float = 0.0
    sync_ms: float = 0.03
    now_ms: float = 0.0
    calls: int = 0
    batches: list[int] = field(default_factory=list)
    peak_mb: float = 0.0
    resets: int = 0
    allocator: bool = True
    events: int = 0

    def clock(self) -> float:
        return self.now_ms / 1000.0

    def stage(self, batch: np.ndarray) -> StagedCall:
        n = int(batch.shape[0])
        self.now_ms += self.stage_ms
        self.batches.append(n)
        call = self.calls
        self.calls += 1

        def copy_in() -> None:
            self.now_ms += self.h2d_ms * n
            self.peak_mb = max(self.peak_mb, 10.0 + batch.nbytes / 2**20)

        def compute() -> None:
            self.now_ms += self.compute_ms(call, n)

        def copy_out() -> None:
            self.now_ms += self.d2h_ms * n

        return StagedCall(copy_in=copy_in, compute=compute, copy_out=copy_out)

    def mark(self) -> FakeEvent:
        self.events += 1
        return FakeEvent(self.now_ms)

    def synchronize(self) -> None:
        self.now_ms += self.sync_ms

    def reset_peak(self) -> None:
        self.resets += 1
        self.peak_mb = 0.0

    def access(self, pci_bus_id: str | None = "00000000:1B:00.0") -> GpuAccess:
        return GpuAccess(
            device_name="Fake GPU 80GB",
            device_index=0,
            pci_bus_id=pci_bus_id,
            stage=self.stage,
            mark=self.mark,
            synchronize=self.synchronize,
            allocator_peak_mb=lambda: self.peak_mb if self.allocator else None,
            reset_allocator_peak=self.reset_peak,
            runtime="fake runtime 1.0",
        )


def images(count: int = 8, size: int = 4) -> np.ndarray:
    """Float32 NCHW images, each distinct."""
    return np.arange(count * 3 * size * size, dtype=np.float32).reshape(count, 3, size, size)
