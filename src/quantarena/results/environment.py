"""The environment fingerprint written into every results file, so two runs compare knowingly:
typed, so every report reads the same fields the same way."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata

import psutil
from pydantic import BaseModel, ConfigDict

from quantarena.hardware import Int8Arithmetic, int8_arithmetic, read_cpu

# CPU features that decide INT8/BF16 speed on x86.
ISA_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)
CORE_PACKAGES = ("numpy", "pillow", "pydantic")
BUSY_PERCENT = 20.0  # CPU use by others above this, just before measuring, earns a warning


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow")


class Cpu(_Block):
    model: str = "?"
    arch: str = "?"
    isa: dict[str, bool] = {}
    #: the INT8 dot product and whether it saturates (absent in files from before it was recorded)
    int8: Int8Arithmetic | None = None
    logical_cores: int | None = None
    physical_cores: int | None = None

    def isa_text(self) -> str:
        return ", ".join(flag for flag, on in self.isa.items() if on) or "none detected"


class Gpu(_Block):
    name: str
    driver: str = "?"
    memory: str = "?"


class Load(_Block):
    """CPU use by other processes just before measuring."""

    cpu_percent: float = 0.0
    loadavg_1m: float = 0.0
    warning: str | None = None


class Environment(_Block):
    cpu: Cpu = Cpu()
    threads: int | None = None
    pin_cpus: list[int] | None = None
    memory_gb: float | None = None
    os: str = "?"
    python: str = "?"
    quantarena: str = "?"
    packages: dict[str, str | None] = {}
    gpu: list[Gpu] | None = None
    load_before: Load | None = None

    def summary(self) -> str:
        """One line naming the machine, for report headers."""
        cpu = self.cpu
        return (
            f"{cpu.model} ({cpu.logical_cores or '?'} logical cores; ISA: {cpu.isa_text()}), "
            f"{self.threads} threads, {self.memory_gb} GB, {self.os}, Python {self.python}"
        )

    def int8_line(self) -> str:
        """The CPU's INT8 arithmetic in one line: it decides INT8 accuracy as well as speed."""
        if self.cpu.int8 is None:
            return "INT8 arithmetic: not recorded (results from an older quantarena)"
        return f"INT8 arithmetic: {self.cpu.int8.describe()}"

    @property
    def load_warning(self) -> str | None:
        return self.load_before.warning if self.load_before else None


def cpu_info() -> Cpu:
    model, arch, flags = read_cpu()
    return Cpu(
        model=model,
        arch=arch,
        isa={flag: flag in flags for flag in ISA_FLAGS},
        int8=int8_arithmetic(arch, flags),
        logical_cores=psutil.cpu_count(logical=True),
        physical_cores=psutil.cpu_count(logical=False),
    )


def gpu_info() -> list[Gpu] | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    gpus = []
    for line in out.strip().splitlines():
        name, driver, memory = (part.strip() for part in line.split(","))
        gpus.append(Gpu(name=name, driver=driver, memory=memory))
    return gpus or None


def package_versions(names: list[str]) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in sorted(set(names)):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def competing_load() -> Load:
    """Other processes using the CPU while we measure skew every number: record, and warn."""
    # A one-second sample of current use decides; the load average is recorded as context only
    # (it decays over minutes, so it still shows work that has already finished).
    busy = psutil.cpu_percent(interval=1.0)
    load1, _, _ = os.getloadavg()
    cores = psutil.cpu_count(logical=True) or 1
    note = None
    if busy > BUSY_PERCENT:
        note = (
            f"the machine was busy before measuring (CPU {busy:.0f}% used by other processes "
            f"on {cores} cores)"
        )
    return Load(cpu_percent=busy, loadavg_1m=load1, warning=note)


def fingerprint(
    threads: int, pin_cpus: list[int] | None, toolchain_packages: list[str]
) -> Environment:
    from quantarena import __version__

    return Environment(
        cpu=cpu_info(),
        threads=threads,
        pin_cpus=pin_cpus,
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        os=f"{platform.system()} {platform.release()}",
        python=sys.version.split()[0],
        quantarena=__version__,
        packages=package_versions([*CORE_PACKAGES, *toolchain_packages]),
        gpu=gpu_info(),
        load_before=competing_load(),
    )
