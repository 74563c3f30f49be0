"""The toolchain contract: every toolchain is one adapter of this shape, so the runner and the
measurements never ask which toolchain they hold.

Rules for adapters (one package per toolchain, the same files in each: ``recipes.py`` for the typed
recipes and their build facts, ``build.py`` for making artifacts, ``runtime.py`` for sessions,
``toolchain.py`` for the adapter class, registered by one line in ``toolchains/registry.py``):
- import the runtime (torch, onnxruntime, openvino, tensorrt ...) inside functions only, never at
  module level: ``quantarena list`` and ``--help`` load every adapter module;
- one ``Recipe`` subclass per variant, with every knob as a typed field with a default, and its
  capabilities declared as class variables (what it needs, what it can measure, whether it can be
  the FP32 reference); the base class answers availability from them;
- ``_build`` writes the artifact under ``workdir`` and returns it with the recipe's typed facts;
  the base class times it and lists the artifact's files. ``_load`` reads only that artifact (a
  fresh worker process calls it; nothing is re-quantized there); the base class turns its errors
  into one-line ``ModelError``s.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from quantarena.data.cache import ImageArray
from quantarena.errors import ModelError, QuantarenaError, first_line
from quantarena.measure.gpu_access import GpuAccess
from quantarena.models.spec import ModelBundle
from quantarena.results.measurements import Unavailable
from quantarena.toolchains.gpu import nvidia_gpu_problem
from quantarena.tune.space import Knob


@dataclass(frozen=True)
class Needs:
    """What a recipe needs to run at all. Declared on the recipe class, checked by the base
    adapter without importing anything (``find_spec``, distribution metadata, device nodes,
    NVML)."""

    #: import names that must be importable, e.g. ("onnxruntime", "onnx")
    packages: tuple[str, ...] = ()
    #: the pip extra (or command) that installs them, for the message
    install: str = ""
    #: pip distributions that must be installed, checked with ``importlib.metadata``: for a
    #: build that shares its import name with another (onnxruntime-gpu and the CPU build
    #: onnxruntime are both ``import onnxruntime``), which ``packages`` cannot tell apart
    distributions: tuple[str, ...] = ()
    #: how to get them, for the message
    distributions_install: str = ""
    #: an NVIDIA GPU visible to this process
    gpu: bool = False
    #: a torch module of the model (a user's ONNX file has none)
    torch_module: bool = False
    #: said after a "no GPU" reason, e.g. where to go instead
    gpu_hint: str = ""


class BuildFacts(BaseModel):
    """What a build decided or measured (layers kept in FP32, observers read back, QAT losses ...).
    Each recipe declares its own subclass, so a fact is a typed field, never a stray dict key."""

    model_config = ConfigDict(extra="forbid")


class Recipe(BaseModel):
    """Base of every recipe: typed, immutable, unknown knobs rejected, versioned when it crosses a
    process boundary (``to_payload``/``registry.recipe_from_payload``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: bumped when a knob's meaning changes, so an old job or results file is not misread
    version: ClassVar[int] = 1
    #: "fp32", "fp16", "int8" ...: the precision of the variant's arithmetic, for the table.
    precision: ClassVar[str] = "fp32"
    #: Does the build use calibration images? (Shown in the results.)
    calibrates: ClassVar[bool] = False
    #: One line for ``quantarena list``.
    summary: ClassVar[str] = ""
    #: What the recipe needs to run (packages, GPU, a torch module).
    needs: ClassVar[Needs] = Needs()
    #: Why the session's speed means nothing (e.g. a GPU graph simulated on the CPU): latency,
    #: throughput and energy are then reported unavailable with this reason; accuracy still runs.
    speed_unavailable: ClassVar[str | None] = None
    #: Can this variant be the FP32 reference every accuracy change is measured against? Lower
    #: ranks are preferred; ``None`` never.
    reference_rank: ClassVar[int | None] = None
    #: The facts its build reports.
    Facts: ClassVar[type[BuildFacts]] = BuildFacts
    #: The knobs ``quantarena tune`` may move, with their ranges (empty: not tunable).
    search_space: ClassVar[tuple[Knob, ...]] = ()
    #: The knob that keeps named layers in floating point (a tuple of layer names), for
    #: per-layer sensitivity and mixed-precision fallback; ``None``: layers cannot be skipped.
    layer_knob: ClassVar[str | None] = None
    #: The toolchain's own accuracy-restoring twin of this recipe (a recipe name of the same
    #: toolchain taking the same knobs plus ``max_drop``, ``drop_type`` and
    #: ``validation_tail``), which ``tune`` runs beside its fallback on the same splits.
    accuracy_control: ClassVar[str | None] = None
    #: What calibrates the recipe when it has no ``calibration_method`` knob, as its toolchain
    #: names it (``tune --study calibration`` labels the recipe's single line with it).
    default_calibrator: ClassVar[str] = "recipe default"
    #: (seconds, seconds per calibration image) one study point took here, per calibration
    #: method (``None``: the recipe's only one), for ``tune --study``'s duration estimate.
    study_cost_s: ClassVar[dict[str | None, tuple[float, float]]] = {}

    @classmethod
    def layers(cls, bundle: ModelBundle) -> list[str]:
        """The layers ``layer_knob`` can name, in graph order (empty when it has none)."""
        return []

    @classmethod
    def model_problem(cls, bundle: ModelBundle) -> str | None:
        """Why this recipe cannot handle this model (declared limits), or ``None``."""
        return None

    def to_payload(self, variant: str) -> RecipePayload:
        return RecipePayload(
            variant=variant,
            type=type(self).__name__,
            version=self.version,
            knobs=self.model_dump(mode="json"),
        )


class RecipePayload(BaseModel):
    """A recipe on its way to a worker (torchao's ``_type``/``_version`` scheme): the worker
    rebuilds it only if the class is the variant's registered one and the version matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    variant: str
    type: str
    version: int
    knobs: dict[str, Any]


@dataclass
class Built:
    """What an adapter's ``_build`` returns."""

    artifact: Path
    facts: BuildFacts
    calibration_images: int = 0
    notes: list[str] = field(default_factory=list)


class BuildOutcome(BaseModel):
    """What a build made, as the results record it (``Toolchain.build`` fills it)."""

    model_config = ConfigDict(extra="forbid")
    artifact: Path
    files: list[Path]
    size_bytes: int
    seconds: float
    calibration_images: int
    facts: dict[str, Any]
    notes: list[str] = []


class Session(Protocol):
    """A loaded artifact, ready to run. ``run`` takes a float32 NCHW batch, returns logits.

    For a GPU runtime, ``run`` includes host-to-device and device-to-host copies and returns only
    after the device finished, so host timers measure the full call.
    """

    def run(self, batch: np.ndarray) -> np.ndarray: ...

    def raw_call(self, batch: np.ndarray) -> Callable[[], object]:
        """The runtime called directly on ``batch`` already in its own input type, with no
        adapter code around it: what the harness-overhead benchmark compares ``run`` with."""
        ...

    def info(self) -> dict[str, Any]:
        """What actually ran (execution precision, provider, engine version ...), for results."""
        ...

    def exact_twin(self) -> Session | Unavailable:
        """The same quantized graph executed in exact arithmetic (float math between exact
        quantize/dequantize pairs, no integer kernels), so that the accuracy a recipe costs can be
        told apart from what the CPU's INT8 kernels cost (u8×s8 sums saturate without VNNI); or
        why this session has none (an FP32 session, a runtime with no faithful way)."""
        ...

    def gpu(self) -> GpuAccess | Unavailable:
        """The session's device, stream events and staged call, for device-side timing (see
        ``measure.gpu_access``); or why there is none (a CPU session)."""
        ...


class Toolchain(ABC):
    """One runtime/quantizer family; its variants are ``f"{name}:{recipe name}"``."""

    name: ClassVar[str]
    #: how messages name it ("ONNX Runtime")
    title: ClassVar[str]
    #: recipe name -> Recipe class, e.g. {"fp32": OrtFp32, "int8": OrtStaticInt8}
    recipes: ClassVar[dict[str, type[Recipe]]]
    #: distributions whose versions go into the environment fingerprint
    packages: ClassVar[tuple[str, ...]] = ()
    #: the recipe speedups of this toolchain's variants are measured against, when in the run
    baseline_recipe: ClassVar[str | None] = "fp32"

    def unavailable(self, recipe: str, bundle: ModelBundle | None = None) -> Unavailable | None:
        """Why ``recipe`` cannot run here (or on ``bundle``'s model), from its declarations;
        ``None`` when it can. Cheap: no runtime import."""
        cls = self.recipes[recipe]
        needs = cls.needs
        if needs.gpu:
            problem = nvidia_gpu_problem()
            if problem is not None:
                return Unavailable(reason=problem + needs.gpu_hint)
        absent = [d for d in needs.distributions if not _installed(d)]
        if absent:
            hint = f" ({needs.distributions_install})" if needs.distributions_install else ""
            return Unavailable(reason=f"{', '.join(absent)} not installed{hint}")
        missing = [m for m in needs.packages if _missing(m)]
        if missing:
            hint = f" ({needs.install})" if needs.install else ""
            return Unavailable(reason=f"{', '.join(missing)} not installed{hint}")
        if bundle is not None:
            if needs.torch_module and not bundle.has_torch_module:
                return Unavailable(
                    reason="the model came from an ONNX file: PyTorch paths need a torch module"
                )
            problem = cls.model_problem(bundle)
            if problem is not None:
                return Unavailable(reason=problem)
        return None

    def parse_recipe(self, recipe: str, options: dict[str, Any] | None = None) -> Recipe:
        return self.recipes[recipe](**(options or {}))

    def build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> BuildOutcome:
        """Make the artifact under ``workdir``: timed here, once for every toolchain."""
        workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        built = self._build(bundle, recipe, calibration, workdir)
        seconds = time.perf_counter() - start
        if not isinstance(built.facts, type(recipe).Facts):
            raise TypeError(
                f"{type(recipe).__name__} build returned {type(built.facts).__name__}, "
                f"not its declared {type(recipe).Facts.__name__}"
            )
        files = self.artifact_files(built.artifact)
        return BuildOutcome(
            artifact=built.artifact,
            files=files,
            size_bytes=sum(f.stat().st_size for f in files),
            seconds=seconds,
            calibration_images=built.calibration_images,
            facts=built.facts.model_dump(mode="json"),
            notes=built.notes,
        )

    def load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        """Load the artifact for inference with ``threads`` intra-op threads. A runtime's own
        error becomes one line naming the runtime and the file."""
        try:
            return self._load(artifact, recipe, threads)
        except (QuantarenaError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - runtimes raise their own exception types
            raise ModelError(
                f"{self.title} cannot load {artifact.name}: {first_line(exc)}"
            ) from exc

    @abstractmethod
    def _build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> Built:
        """Make the artifact under ``workdir`` from the FP32 bundle (and calibration images)."""

    @abstractmethod
    def _load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        """Load the artifact (the base class wraps errors)."""

    def artifact_files(self, artifact: Path) -> list[Path]:
        """Every file that makes up the artifact (IR .xml + .bin, ONNX + external data ...)."""
        if artifact.is_dir():
            return sorted(p for p in artifact.rglob("*") if p.is_file())
        siblings = [p for p in artifact.parent.glob(artifact.name + ".*") if p.is_file()]
        return [artifact, *siblings]


def _installed(distribution: str) -> bool:
    """Is this pip distribution installed? Its metadata answers, nothing is imported."""
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a parent package that fails to import, or a broken spec
        return True
