"""Energy from hardware counters where they exist (RAPL on Linux, NVML for NVIDIA GPUs), and CPU
seconds per image everywhere. Never an estimate from a TDP table presented as a measurement."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RAPL_ROOT = Path("/sys/class/powercap")


def _rapl_packages(root: Path = RAPL_ROOT) -> list[Path]:
    """Top-level RAPL package domains (intel-rapl:0, ...) with a readable energy counter."""
    found = []
    for domain in sorted(root.glob("intel-rapl:*")) if root.exists() else []:
        if domain.name.count(":") == 1 and os.access(domain / "energy_uj", os.R_OK):
            found.append(domain)
    return found


def _nvml_handles() -> list[Any]:
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # noqa: BLE001 - no driver, no device
        return []


@dataclass
class EnergyMeter:
    """Reads counters at ``start()`` and ``stop(images)``; reports joules per image where it can."""

    rapl: list[Path] = field(default_factory=_rapl_packages)
    nvml: list[Any] = field(default_factory=_nvml_handles)
    _t0: float = 0.0
    _cpu0: float = 0.0
    _rapl0: list[int] = field(default_factory=list)
    _nvml0: list[int] = field(default_factory=list)

    def start(self) -> None:
        self._rapl0 = [int((d / "energy_uj").read_text()) for d in self.rapl]
        self._nvml0 = [self._nvml_mj(h) for h in self.nvml]
        times = os.times()
        self._cpu0 = times.user + times.system
        self._t0 = time.perf_counter()

    @staticmethod
    def _nvml_mj(handle: Any) -> int:
        import pynvml

        return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))

    def stop(self, images: int) -> dict[str, Any]:
        window = time.perf_counter() - self._t0
        times = os.times()
        cpu = times.user + times.system - self._cpu0
        result: dict[str, Any] = {
            "window_s": window,
            "images": images,
            "cpu_seconds_per_image": cpu / images if images else None,
        }
        joules = 0.0
        sources = []
        if self.rapl:
            for domain, before in zip(self.rapl, self._rapl0):
                after = int((domain / "energy_uj").read_text())
                if after < before:  # counter wrapped
                    after += int((domain / "max_energy_range_uj").read_text())
                joules += (after - before) / 1e6
            sources.append("rapl (whole CPU package, includes other processes)")
        if self.nvml:
            joules += sum(self._nvml_mj(h) - b for h, b in zip(self.nvml, self._nvml0)) / 1e3
            sources.append("nvml (whole GPU)")
        if sources:
            result.update({"joules_per_image": joules / images if images else None, "source": sources})
        else:
            result["unavailable"] = "no RAPL (/sys/class/powercap) or NVML energy counter readable here"
        return result
