"""Energy from hardware counters where they exist (RAPL on Linux, NVML for NVIDIA GPUs). Never an
estimate from a TDP table presented as a measurement: without a counter, energy is unavailable
(CPU seconds per image, measured everywhere, is the proxy)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RAPL_ROOT = Path("/sys/class/powercap")
NO_SENSOR = "no RAPL (/sys/class/powercap) or NVML energy counter readable here"


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


def _nvml_mj(handle: Any) -> int:
    import pynvml

    return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))


@dataclass
class EnergyCounters:
    """Reads the machine's energy counters at ``start()`` and ``stop()``; ``stop`` returns joules
    and the sources read, or ``None`` when no counter is readable here."""

    rapl: list[Path] = field(default_factory=_rapl_packages)
    nvml: list[Any] = field(default_factory=_nvml_handles)
    _rapl0: list[int] = field(default_factory=list)
    _nvml0: list[int] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return bool(self.rapl or self.nvml)

    def start(self) -> None:
        self._rapl0 = [int((d / "energy_uj").read_text()) for d in self.rapl]
        self._nvml0 = [_nvml_mj(h) for h in self.nvml]

    def stop(self) -> tuple[float, list[str]] | None:
        if not self.available:
            return None
        joules = 0.0
        sources = []
        if self.rapl:
            for domain, before in zip(self.rapl, self._rapl0, strict=True):
                after = int((domain / "energy_uj").read_text())
                if after < before:  # counter wrapped
                    after += int((domain / "max_energy_range_uj").read_text())
                joules += (after - before) / 1e6
            sources.append("rapl (whole CPU package, includes other processes)")
        if self.nvml:
            joules += (
                sum(_nvml_mj(h) - b for h, b in zip(self.nvml, self._nvml0, strict=True)) / 1e3
            )
            sources.append("nvml (whole GPU)")
        return joules, sources
