"""One NVIDIA device read over NVML: its energy counter, clocks, performance state, power, clock
event (throttle) reasons, temperature and this process's memory.

NVML is a thin C library in the driver, read through ``pynvml`` (nvidia-ml-py). Any of it can be
missing on a given machine: the package, the driver, the device, a permission, or one counter on
one GPU model. None of that may stop a measurement, so opening returns the reader or an
``Unavailable`` with a one-line reason, and each read that fails gives ``None`` for its field (the
reason kept in ``problems``) instead of raising. The ``pynvml`` module is injectable, so all of
this is tested on the CPU with a fake module.

NVML's total energy counter is updated at a coarse interval (tens of milliseconds or more, depending
on the GPU), so an energy window must last seconds; a window over which the counter did not move at
all was too short to measure, not free.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from quantarena.results.gpu import GpuState
from quantarena.results.measurements import Unavailable

#: How the reader gets the ``pynvml`` module (tests hand in a fake one).
NvmlLoader = Callable[[], Any]

#: Clock event reasons that mean the GPU is running slower than it could (as opposed to idling,
#: or following a clock setting).
SLOWDOWNS = frozenset(
    {
        "sw power cap",
        "hw slowdown",
        "sw thermal slowdown",
        "hw thermal slowdown",
        "hw power brake slowdown",
        "board limit",
        "reliability",
    }
)

_WHOLE_DEVICE = "nvml (whole GPU, includes other processes)"
_THIS_PROCESS = "nvml (this process)"
_PREFIXES = ("nvmlClocksEventReason", "nvmlClocksThrottleReason")  # newest name first


def import_pynvml() -> ModuleType:
    """The real ``pynvml`` (nvidia-ml-py); an ``ImportError`` when it is not installed."""
    import importlib

    return importlib.import_module("pynvml")


def describe(exc: BaseException) -> str:
    """One line for an NVML error (its ``str`` may itself call into NVML, so guarded)."""
    try:
        text = str(exc).strip()
    except Exception:  # noqa: BLE001 - a broken error string must not hide the error
        text = ""
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class ProcessMemory:
    mb: float
    source: str


@dataclass
class NvmlDevice:
    """An opened device. ``found_by`` says how it was matched ("pci bus id ..." or "index N"), so
    a fallback to the index (which CUDA and NVML may number differently) can be noted."""

    nvml: Any
    handle: Any
    found_by: str
    pid: int = field(default_factory=os.getpid)
    #: field -> why its last read failed ("energy": "Not Supported" ...)
    problems: dict[str, str] = field(default_factory=dict)

    def _read(self, name: str, function: str, *args: Any) -> Any:
        """``nvml.<function>(handle, *args)``, or ``None`` with the reason kept under ``name``."""
        try:
            value = getattr(self.nvml, function)(self.handle, *args)
        except Exception as exc:  # noqa: BLE001 - NVMLError subclasses, a missing function
            self.problems[name] = f"{function}: {describe(exc)}"
            return None
        self.problems.pop(name, None)
        return value

    def energy_mj(self) -> int | None:
        """The total energy counter in millijoules since the driver loaded (GPUs before Volta
        have none: ``None``, and ``problems["energy"]`` says so)."""
        value = self._read("energy", "nvmlDeviceGetTotalEnergyConsumption")
        return None if value is None else int(value)

    def sm_clock_mhz(self) -> int | None:
        value = self._read("sm_clock", "nvmlDeviceGetClockInfo", _const(self.nvml, "SM", 1))
        return None if value is None else int(value)

    def throttle_reasons(self) -> list[str] | None:
        """The active clock event reasons, decoded to names (``[]``: none)."""
        function = "nvmlDeviceGetCurrentClocksEventReasons"
        if not hasattr(self.nvml, function):  # pynvml before the rename
            function = "nvmlDeviceGetCurrentClocksThrottleReasons"
        mask = self._read("throttle_reasons", function)
        return None if mask is None else decode_reasons(self.nvml, int(mask))

    def state(self) -> GpuState:
        """Clocks, performance state, power, limit, temperature and clock event reasons now."""
        mem_clock = self._read("mem_clock", "nvmlDeviceGetClockInfo", _const(self.nvml, "MEM", 2))
        max_sm = self._read("max_sm_clock", "nvmlDeviceGetMaxClockInfo", _const(self.nvml, "SM", 1))
        pstate = self._read("pstate", "nvmlDeviceGetPerformanceState")
        power = self._read("power", "nvmlDeviceGetPowerUsage")
        limit = self._read("power_limit", "nvmlDeviceGetEnforcedPowerLimit")
        sensor = getattr(self.nvml, "NVML_TEMPERATURE_GPU", 0)
        temperature = self._read("temperature", "nvmlDeviceGetTemperature", sensor)
        return GpuState(
            sm_clock_mhz=self.sm_clock_mhz(),
            mem_clock_mhz=None if mem_clock is None else int(mem_clock),
            max_sm_clock_mhz=None if max_sm is None else int(max_sm),
            pstate=_pstate(pstate),
            power_w=None if power is None else float(power) / 1000.0,  # NVML reports mW
            power_limit_w=None if limit is None else float(limit) / 1000.0,
            temperature_c=None if temperature is None else int(temperature),
            throttle_reasons=self.throttle_reasons(),
        )

    def process_memory(self) -> ProcessMemory | None:
        """This process's GPU memory; where NVML does not list it (another PID namespace, no
        permission), the whole device's used memory, labelled as including other processes."""
        processes = self._read("process_memory", "nvmlDeviceGetComputeRunningProcesses")
        for proc in processes or []:
            used = getattr(proc, "usedGpuMemory", None)
            if getattr(proc, "pid", None) == self.pid and used is not None:
                return ProcessMemory(float(used) / 2**20, _THIS_PROCESS)
        info = self._read("device_memory", "nvmlDeviceGetMemoryInfo")
        if info is None:
            return None
        return ProcessMemory(float(info.used) / 2**20, _WHOLE_DEVICE)


def open_device(
    pci_bus_id: str | None, index: int = 0, load: NvmlLoader = import_pynvml
) -> NvmlDevice | Unavailable:
    """The device at ``pci_bus_id`` (how NVML and CUDA agree on a device), else at ``index``;
    or why NVML cannot read it here. Never raises."""
    nvml = _init(load)
    if isinstance(nvml, Unavailable):
        return nvml
    tried = ""
    if pci_bus_id:
        try:
            handle = nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
            return NvmlDevice(nvml, handle, f"pci bus id {pci_bus_id}")
        except Exception as exc:  # noqa: BLE001 - NVMLError_NotFound, a malformed id
            tried = f"PCI bus id {pci_bus_id}: {describe(exc)}; "
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
    except Exception as exc:  # noqa: BLE001
        return Unavailable(reason=f"NVML found no device ({tried}index {index}: {describe(exc)})")
    how = f"index {index}" + (f" (no device at {tried.rstrip('; ')})" if tried else "")
    return NvmlDevice(nvml, handle, how)


def open_all(load: NvmlLoader = import_pynvml) -> list[NvmlDevice] | Unavailable:
    """Every device NVML sees (the machine's GPUs, for whole-machine energy)."""
    nvml = _init(load)
    if isinstance(nvml, Unavailable):
        return nvml
    try:
        count = int(nvml.nvmlDeviceGetCount())
        return [
            NvmlDevice(nvml, nvml.nvmlDeviceGetHandleByIndex(i), f"index {i}")
            for i in range(count)
        ]
    except Exception as exc:  # noqa: BLE001
        return Unavailable(reason=f"NVML cannot list devices: {describe(exc)}")


def _init(load: NvmlLoader) -> Any:
    """The initialised module, or why not: package missing, no library, no driver ..."""
    try:
        nvml = load()
    except ImportError:
        return Unavailable(reason="NVML unavailable: nvidia-ml-py (pynvml) is not installed")
    try:
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded ...
        return Unavailable(reason=f"NVML unavailable: {_init_problem(nvml, exc)}")
    return nvml


def _init_problem(nvml: Any, exc: BaseException) -> str:
    code = getattr(exc, "value", None)
    known = {
        getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", 12): "the NVIDIA driver's NVML library "
        "(libnvidia-ml.so.1) was not found: no NVIDIA driver is installed",
        getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", 9): "no NVIDIA driver is loaded",
        getattr(nvml, "NVML_ERROR_NO_PERMISSION", 4): "no permission to read the GPU",
    }
    if isinstance(code, int) and code in known:
        return known[code]
    return f"NVML did not start: {describe(exc)}"


def decode_reasons(nvml: Any, mask: int) -> list[str]:
    """Names of the bits set in a clock event reasons mask, from the module's own constants
    (``nvmlClocksEventReasonSwPowerCap`` -> "sw power cap"); unknown bits by value."""
    names: dict[int, str] = {}
    for prefix in _PREFIXES:
        for attr in sorted(dir(nvml)):
            suffix = attr[len(prefix):]
            if not attr.startswith(prefix) or suffix in ("All", "None"):
                continue
            bit = getattr(nvml, attr)
            if isinstance(bit, int) and bit > 0 and bit & (bit - 1) == 0:
                names.setdefault(bit, _words(suffix))
    found = [name for bit, name in sorted(names.items()) if mask & bit]
    rest = mask & ~sum(names)
    return found + ([f"unknown reason {rest:#x}"] if rest else [])


def _words(camel: str) -> str:
    return " ".join(re.findall(r"[A-Z][a-z0-9]*", camel)).lower()


def _const(nvml: Any, clock: str, default: int) -> int:
    return int(getattr(nvml, f"NVML_CLOCK_{clock}", default))


def _pstate(value: Any) -> str | None:
    """NVML's performance state (0..15; 32 means unknown) as "P0".."P15"."""
    if value is None or not 0 <= int(value) <= 15:
        return None
    return f"P{int(value)}"


__all__ = ["SLOWDOWNS", "NvmlDevice", "ProcessMemory", "decode_reasons", "open_all", "open_device"]
