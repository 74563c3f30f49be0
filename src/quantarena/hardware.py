"""What the CPU does with INT8 arithmetic, read from its feature flags.

The same INT8 artifact can keep FP32 accuracy on one CPU and lose points on another: x86 CPUs
without VNNI (or AMX) multiply unsigned by signed 8-bit values with VPMADDUBSW, whose 16-bit
intermediate sums saturate. Every vendor documents a remedy (ONNX Runtime's ``reduce_range``,
NNCF's ``overflow_fix``, 7-bit activations in PyTorch's x86 qconfig), so recipes resolve their
``auto`` remedy knob from this, and every results file names the CPU's INT8 dot product.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

DotProduct = Literal["amx", "avx512_vnni", "avx_vnni", "vpmaddubsw", "i8mm", "dotprod", "none"]

_DESCRIPTIONS: dict[str, str] = {
    "amx": "AMX tiles (INT8 products summed in 32 bits)",
    "avx512_vnni": "AVX-512 VNNI (VPDPBUSD: INT8 products summed in 32 bits)",
    "avx_vnni": "AVX-VNNI (VPDPBUSD on 256-bit registers: INT8 products summed in 32 bits)",
    "vpmaddubsw": "no VNNI: AVX2/AVX-512 VPMADDUBSW, u8×s8 pairs summed in 16 bits (saturates)",
    "i8mm": "Arm i8mm (SMMLA: INT8 matrix multiply, 32-bit sums)",
    "dotprod": "Arm dot product (SDOT/UDOT: 32-bit sums)",
    "none": "no INT8 dot-product instruction detected",
}


class Int8Arithmetic(BaseModel):
    """The CPU's INT8 dot product and whether u8×s8 sums can saturate on it."""

    model_config = ConfigDict(frozen=True)
    dot_product: DotProduct
    saturates: bool

    def describe(self) -> str:
        return _DESCRIPTIONS[self.dot_product]


def int8_arithmetic(arch: str, flags: Iterable[str]) -> Int8Arithmetic:
    """Classify a CPU from its architecture name and ``/proc/cpuinfo`` flags (or Features)."""
    have = set(flags)
    if arch.lower() in ("aarch64", "arm64"):
        if "i8mm" in have:
            return Int8Arithmetic(dot_product="i8mm", saturates=False)
        if "asimddp" in have or "dotprod" in have:
            return Int8Arithmetic(dot_product="dotprod", saturates=False)
        return Int8Arithmetic(dot_product="none", saturates=False)
    if "amx_int8" in have:
        return Int8Arithmetic(dot_product="amx", saturates=False)
    if "avx512_vnni" in have:
        return Int8Arithmetic(dot_product="avx512_vnni", saturates=False)
    if "avx_vnni" in have:
        return Int8Arithmetic(dot_product="avx_vnni", saturates=False)
    if "avx2" in have or "avx512bw" in have or "ssse3" in have:
        return Int8Arithmetic(dot_product="vpmaddubsw", saturates=True)
    return Int8Arithmetic(dot_product="none", saturates=False)


def read_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, str, set[str]]:
    """(model name, architecture, feature flags) of this machine's first CPU."""
    model = platform.processor() or platform.machine()
    flags: set[str] = set()
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model name") and value.strip():
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    return model, platform.machine(), flags


@cache
def this_cpu() -> Int8Arithmetic:
    """The INT8 arithmetic of the CPU this process runs on."""
    _, arch, flags = read_cpu()
    return int8_arithmetic(arch, flags)


class Resolved(BaseModel):
    """An ``auto`` knob made concrete for this machine: what was asked, what it became, why."""

    model_config = ConfigDict(frozen=True)
    asked: str
    value: str | bool | int | float | None
    why: str


def saturation_remedy(
    asked: Literal["auto"] | bool, *, remedy: str, cpu: Int8Arithmetic | None = None
) -> Resolved:
    """Resolve a toolchain's saturation remedy (``remedy`` names it, e.g. "7-bit weights"):
    ``auto`` turns it on exactly where u8×s8 sums can saturate; ``True``/``False`` force it."""
    cpu = cpu or this_cpu()
    if asked != "auto":
        why = (
            "forced on by the recipe"
            if asked
            else "forced off by the recipe (the vendor's default)"
        )
        return Resolved(
            asked=str(asked).lower(), value=bool(asked), why=f"{why}; CPU: {cpu.describe()}"
        )
    if cpu.saturates:
        return Resolved(
            asked="auto", value=True, why=f"{cpu.describe()}: {remedy} avoids the 16-bit overflow"
        )
    return Resolved(
        asked="auto", value=False, why=f"{cpu.describe()}: no saturation, {remedy} not needed"
    )
