"""A platform is named by what decides its numbers: CPU model, the INT8 dot product it has,
cores/threads and GPU. Two runs on machines of the same kind get the same name plus their run
folder's name (or a number), so every column group of a matrix has a unique title."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from quantarena.hardware import int8_arithmetic
from quantarena.results.schema import Results

#: how the INT8 dot product reads in a platform's name
_DOT_NAMES = {
    "amx": "AMX",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "vpmaddubsw": "no VNNI",
    "i8mm": "Arm i8mm",
    "dotprod": "Arm dotprod",
    "none": "no INT8 dot product",
}


class Platform(BaseModel):
    """One column group of a matrix: a run and the machine it was measured on."""

    key: str  # unique within the matrix: the column group's title
    cpu: str
    int8_dot_product: str
    physical_cores: int | None
    logical_cores: int | None
    threads: int | None
    gpu: str
    run: str
    started_at: str


def dot_product(results: Results) -> str:
    """The INT8 dot product the run recorded; for files written before it was recorded, the
    same classification from the ISA flags they did record."""
    cpu = results.environment.cpu
    if cpu.int8 is not None:
        return cpu.int8.dot_product
    return int8_arithmetic(cpu.arch, [flag for flag, on in cpu.isa.items() if on]).dot_product


def gpu_text(results: Results) -> str:
    gpus = results.environment.gpu or []
    return ", ".join(g.name for g in gpus) or "no GPU"


def platform_name(results: Results) -> str:
    """``AMD EPYC · AVX-512 VNNI · 2 cores, 2 threads · no GPU``."""
    cpu = results.environment.cpu
    cores = cpu.physical_cores or cpu.logical_cores or "?"
    dot = dot_product(results)
    return (f"{cpu.model} · {_DOT_NAMES.get(dot, dot)} · {cores} cores, "
            f"{results.environment.threads or '?'} threads · {gpu_text(results)}")


def platforms_of(runs: list[tuple[str, Results]]) -> list[Platform]:
    """One platform per run, in the order given; equal names get ``#2``, ``#3`` ... appended."""
    names = [platform_name(results) for _, results in runs]
    # machines of one kind: told apart by their run folders' names (a cluster run names them
    # after its nodes), then by number
    names = [name if names.count(name) == 1 else f"{name} [{Path(run).name}]"
             for (run, _), name in zip(runs, names, strict=True)]
    seen: dict[str, int] = {}
    platforms = []
    for (run, results), name in zip(runs, names, strict=True):
        seen[name] = seen.get(name, 0) + 1
        key = name if names.count(name) == 1 else f"{name} #{seen[name]}"
        cpu = results.environment.cpu
        platforms.append(Platform(
            key=key, cpu=cpu.model, int8_dot_product=dot_product(results),
            physical_cores=cpu.physical_cores, logical_cores=cpu.logical_cores,
            threads=results.environment.threads, gpu=gpu_text(results), run=run,
            started_at=results.started_at,
        ))
    return platforms
