"""The results file: quantarena's contract with its users. Versioned; every key documented in
docs/results-schema.md. Bump ``SCHEMA_VERSION`` (major) on an incompatible change and teach
``results.migrate`` to read the old one.

A variant's row is its identity, what was asked (``recipe``), what the build did (``build``, with
the recipe's typed ``facts``), and its ``Measurements``: one typed object per measurement, or the
reason in ``unavailable``.
"""

from __future__ import annotations

from typing import Any, Literal

from quantarena.results.accuracy import Accuracy
from quantarena.results.environment import Environment
from quantarena.results.gpu import GpuMeasurement
from quantarena.results.interleaved import Interleaved
from quantarena.results.kernel import KernelCheck
from quantarena.results.measurements import (
    Block,
    Contention,
    CpuTime,
    Energy,
    Latency,
    Memory,
    Throughput,
    Timings,
)
from quantarena.results.scenarios import Scenarios

SCHEMA_VERSION = "2.0"
#: ``not_run``: planned but not measured: the run was stopped (Ctrl-C, SIGTERM, a crash of the run
#: itself) before it, or is still in progress; ``run --resume`` measures it
Status = Literal["ok", "failed", "unavailable", "not_run"]


class Tool(Block):
    name: str = "quantarena"
    version: str


class ModelInfo(Block):
    name: str
    source: str
    weights: str
    pretrained: bool
    input_shape: list[int]
    preprocessing: dict[str, Any]
    notes: list[str] = []


class DatasetInfo(Block):
    """The images a run used. ``skipped_images`` (``--on-bad-image skip``) are ``name: reason``;
    ``image_notes`` are PIL's warnings on images that were used, one line per distinct message
    with its image count (capped; ``image_notes_count`` counts every image-warning pair);
    ``ignored_folders`` are non-wnid sub-folders of a wnid layout, left out as not classes."""

    name: str
    root: str
    layout: str
    eval_images: int
    calibration_images: int
    eval_list_sha256: str
    calibration_list_sha256: str
    seed: int
    skipped_images: list[str] = []
    image_notes: list[str] = []
    image_notes_count: int = 0
    ignored_folders: list[str] = []


class Artifact(Block):
    path: str
    size_mb: float
    files: list[str]


class Build(Block):
    """What the build did: its time, the calibration images it really used, and the facts it
    decided or measured (typed per recipe when written; a plain mapping when read back)."""

    seconds: float
    calibration_images: int
    facts: dict[str, Any] = {}


class Measurements(Block):
    """Everything a measuring worker reports. ``unavailable`` maps a measurement key (``latency``,
    ``throughput``, ``energy``, ``accuracy`` ...) to why it could not be measured."""

    timings: Timings | None = None
    latency_ms: Latency | None = None
    throughput: list[Throughput] = []
    energy: Energy | None = None
    cpu_time: CpuTime | None = None
    contention: Contention | None = None
    memory: Memory | None = None
    accuracy: Accuracy | None = None
    kernel: KernelCheck | None = None
    #: a GPU session timed on its device, phase by phase (absent for CPU sessions and in files
    #: written before it existed; ``unavailable.gpu`` says why)
    gpu: GpuMeasurement | None = None
    #: MLPerf LoadGen serving scenarios (only when the run asked for some)
    scenarios: Scenarios | None = None
    runtime: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    notes: list[str] = []
    predictions_file: str | None = None

    def measurement_notes(self) -> list[str]:
        """The notes every measurement asks for (drift, contention ...), in measuring order."""
        blocks: list[Block | None] = [
            self.timings,
            self.latency_ms,
            *self.throughput,
            self.gpu,
            self.energy,
            self.cpu_time,
            self.contention,
            self.memory,
            self.accuracy,
            self.kernel,
            self.scenarios,
        ]
        return [note for block in blocks if block is not None for note in block.row_notes()]


class VariantResult(Measurements):
    name: str
    toolchain: str
    precision: str
    recipe: dict[str, Any] = {}  # what was asked: every knob, resolved
    status: Status
    reason: str | None = None
    artifact: Artifact | None = None
    build: Build | None = None
    #: the FP32 variant of the same toolchain in this run that speedups are measured against
    baseline: str | None = None


class Results(Block):
    schema_version: str = SCHEMA_VERSION
    tool: Tool
    started_at: str
    finished_at: str | None = None
    config: dict[str, Any]
    environment: Environment
    model: ModelInfo
    dataset: DatasetInfo
    reference: str | None = None
    #: what the configuration check warned about before the run (e.g. more threads than CPUs)
    warnings: list[str] = []
    variants: list[VariantResult] = []
    #: the interleaved timing rounds and their paired speed-ups (absent in older files, and in
    #: runs with ``measure.interleave`` off or fewer than two timed variants)
    interleaved: Interleaved | None = None

    def variant(self, name: str) -> VariantResult | None:
        return next((v for v in self.variants if v.name == name), None)
