"""The toolchain contract: every toolchain is one adapter of this shape, so the runner and the
measurements never ask which toolchain they hold.

Rules for adapters:
- import the runtime (torch, onnxruntime, openvino, tensorrt ...) inside methods only, never at
  module level: ``quantarena list`` and ``--help`` load every adapter module;
- one ``Recipe`` subclass per variant, with every knob as a typed field with a default; the
  resolved recipe (plus what the build measured or decided) goes into the results verbatim;
- ``build`` writes the artifact under ``workdir`` and returns a ``BuildResult``; ``load`` reads
  only that artifact (a fresh worker process calls it; nothing is re-quantized there).
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle


@dataclass(frozen=True)
class Availability:
    """``ok`` or the exact reason why not (package missing, no NVIDIA GPU, model unsupported)."""

    ok: bool
    reason: str = ""

    @classmethod
    def yes(cls) -> Availability:
        return cls(True)

    @classmethod
    def no(cls, reason: str) -> Availability:
        return cls(False, reason)


class Recipe(BaseModel):
    """Base of every recipe: typed, immutable, unknown knobs rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: "fp32", "fp16", "int8" ...: the precision of the variant's arithmetic, for the table.
    precision: ClassVar[str] = "fp32"
    #: Does ``build`` use calibration images? (Shown in the results.)
    calibrates: ClassVar[bool] = False
    #: One line for ``quantarena list``.
    summary: ClassVar[str] = ""


@dataclass
class BuildResult:
    """What ``build`` made and did. ``recipe_details`` adds facts decided during the build (e.g.
    layers kept in FP32, QAT losses) to the resolved recipe in the results."""

    artifact: Path
    seconds: float
    calibration_images: int = 0
    recipe_details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Session(Protocol):
    """A loaded artifact, ready to run. ``run`` takes a float32 NCHW batch, returns logits.

    For a GPU runtime, ``run`` includes host-to-device and device-to-host copies and returns only
    after the device finished, so host timers measure the full call.
    """

    def run(self, batch: np.ndarray) -> np.ndarray: ...


def timing_unavailable(session: Session) -> str | None:
    """A session may set ``timing_unavailable = "reason"`` when its speed means nothing (e.g. a
    TensorRT INT8 graph simulated with ONNX Runtime on the CPU): latency and throughput are then
    reported as unavailable with that reason, while accuracy is still measured."""
    reason = getattr(session, "timing_unavailable", None)
    return str(reason) if reason else None


class Toolchain(ABC):
    """One runtime/quantizer family; its variants are ``f"{name}:{recipe name}"``."""

    name: ClassVar[str]
    #: recipe name -> Recipe class, e.g. {"fp32": OrtFp32, "int8": OrtStaticInt8}
    recipes: ClassVar[dict[str, type[Recipe]]]
    #: import names that must be importable, e.g. ("onnxruntime", "onnx")
    requires: ClassVar[tuple[str, ...]] = ()
    #: distributions whose versions go into the environment fingerprint
    packages: ClassVar[tuple[str, ...]] = ()
    #: an extra to install, for the "not installed" message
    extra: ClassVar[str] = ""

    def availability(self, recipe: str) -> Availability:
        """Can ``recipe`` run on this machine at all? Cheap: no runtime import."""
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            hint = f" (pip install 'quantarena[{self.extra}]')" if self.extra else ""
            return Availability.no(f"{', '.join(missing)} not installed{hint}")
        return Availability.yes()

    def supports(self, bundle: ModelBundle, recipe: Recipe) -> Availability:
        """Can this toolchain handle this model? (E.g. PyTorch paths need a torch module.)"""
        return Availability.yes()

    @abstractmethod
    def build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> BuildResult:
        """Make the artifact under ``workdir`` from the FP32 bundle (and calibration images)."""

    @abstractmethod
    def load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        """Load the artifact for inference with ``threads`` intra-op threads."""

    def runtime_info(self, session: Session) -> dict[str, Any]:
        """What actually ran (execution precision, provider, engine version ...), for results."""
        return {}

    def artifact_files(self, artifact: Path) -> list[Path]:
        """Every file that makes up the artifact (IR .xml + .bin, ONNX + external data ...)."""
        if artifact.is_dir():
            return sorted(p for p in artifact.rglob("*") if p.is_file())
        siblings = [p for p in artifact.parent.glob(artifact.name + ".*") if p.is_file()]
        return [artifact, *siblings]

    def parse_recipe(self, recipe: str, options: dict[str, Any] | None = None) -> Recipe:
        return self.recipes[recipe](**(options or {}))
