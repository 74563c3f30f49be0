"""Energy from hardware counters where they exist (RAPL on Linux, NVML for NVIDIA GPUs). Never an
estimate from a TDP table presented as a measurement: without a counter, energy is unavailable
(CPU seconds per image, measured everywhere, is the proxy).

NVML's energy counter (millijoules) is updated at a coarse interval, so a window must last seconds
for it to mean anything; a window over which a GPU's counter did not move is reported as too short
for that GPU, and its zero is not counted as energy.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from quantarena.measure.nvml import NvmlDevice, open_all

RAPL_ROOT = Path("/sys/class/powercap")
NO_SENSOR = "no RAPL (/sys/class/powercap) or NVML energy counter readable here"


def _rapl_packages(root: Path = RAPL_ROOT) -> list[Path]:
    """Top-level RAPL package domains (intel-rapl:0, ...) with a readable energy counter."""
    found = []
    for domain in sorted(root.glob("intel-rapl:*")) if root.exists() else []:
        if domain.name.count(":") == 1 and os.access(domain / "energy_uj", os.R_OK):
            found.append(domain)
    return found


def _nvml_devices() -> list[NvmlDevice]:
    """The machine's GPUs whose energy counter reads (no NVML, or none with a counter: [])."""
    devices = open_all()
    if not isinstance(devices, list):
        return []
    return [d for d in devices if d.energy_mj() is not None]


@dataclass
class EnergyCounters:
    """Reads the machine's energy counters at ``start()`` and ``stop()``; ``stop`` returns joules
    and the sources read, or ``None`` when no counter is readable here (or none moved: then
    ``problem`` says why)."""

    rapl: list[Path] = field(default_factory=_rapl_packages)
    nvml: list[NvmlDevice] = field(default_factory=_nvml_devices)
    _rapl0: list[int] = field(default_factory=list)
    _nvml0: list[int | None] = field(default_factory=list)
    _t0: float = 0.0
    #: why the last ``stop`` returned ``None`` (no counter, or the window was too short)
    problem: str | None = None

    @property
    def available(self) -> bool:
        return bool(self.rapl or self.nvml)

    def start(self) -> None:
        self._rapl0 = [int((d / "energy_uj").read_text()) for d in self.rapl]
        self._nvml0 = [d.energy_mj() for d in self.nvml]
        self._t0 = time.perf_counter()

    def stop(self) -> tuple[float, list[str]] | None:
        self.problem = None if self.available else NO_SENSOR
        if not self.available:
            return None
        joules = 0.0
        sources = []
        counted = False
        if self.rapl:
            for domain, before in zip(self.rapl, self._rapl0, strict=True):
                after = int((domain / "energy_uj").read_text())
                if after < before:  # counter wrapped
                    after += int((domain / "max_energy_range_uj").read_text())
                joules += (after - before) / 1e6
            sources.append("rapl (whole CPU package, includes other processes)")
            counted = True
        if self.nvml:
            gpu_joules, note = self._nvml_window(time.perf_counter() - self._t0)
            if gpu_joules is not None:
                joules += gpu_joules
                counted = True
            sources.append(note)
        if not counted:
            self.problem = sources[-1]
            return None
        return joules, sources

    def _nvml_window(self, seconds: float) -> tuple[float | None, str]:
        """Joules of the GPUs whose counter moved (mJ), and the source line; ``None`` when no
        counter moved or could be read again."""
        moved = []
        for device, before in zip(self.nvml, self._nvml0, strict=True):
            after = device.energy_mj()
            if before is not None and after is not None and after > before:
                moved.append((after - before) / 1e3)
        what = "whole GPU" if len(self.nvml) == 1 else f"{len(self.nvml)} whole GPUs"
        if not moved:
            return None, (
                f"nvml ({what}): the energy counter did not move over the {seconds:.2f} s window; "
                "it updates at a coarse interval, so the window was too short to measure GPU "
                "energy (not counted)"
            )
        if len(moved) < len(self.nvml):
            what += f", {len(self.nvml) - len(moved)} of them not counted: counter did not move"
        return sum(moved), f"nvml ({what})"
