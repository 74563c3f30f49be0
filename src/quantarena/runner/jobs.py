"""What the orchestrator asks a worker to do, and what a worker answers: typed JSON both ways, so
a worker needs nothing from its parent's memory and a crash in one runtime cannot touch another.
Recipes travel as versioned payloads and are rebuilt from the registry's allow-list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from quantarena.config import MeasureConfig
from quantarena.serving.config import ScenarioConfig
from quantarena.toolchains.base import RecipePayload


class _Job(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrepareJob(_Job):
    """Make the FP32 bundle (torch module state, ONNX export, preprocessing) in ``workdir``."""

    kind: Literal["prepare"] = "prepare"
    model: str
    weights: str
    workdir: Path
    seed: int
    input_size: int | None = None
    resize: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


class BuildJob(_Job):
    kind: Literal["build"] = "build"
    recipe: RecipePayload
    bundle: Path
    calibration: Path
    workdir: Path


class MeasureJob(_Job):
    kind: Literal["measure"] = "measure"
    recipe: RecipePayload
    bundle: Path
    artifact: Path
    evaluation: Path
    threads: int
    measure: MeasureConfig
    predictions_path: Path
    #: a timing repeat: speed only, no accuracy pass
    timing_only: bool = False
    #: serving scenarios to run after the meters, with the dataset root (end to end reads the
    #: original images)
    scenarios: ScenarioConfig | None = None
    data: Path | None = None


Job = Annotated[PrepareJob | BuildJob | MeasureJob, Field(discriminator="kind")]


class Prepared(BaseModel):
    bundle: Path


Result = TypeVar("Result", bound=BaseModel)


class JobOutcome(BaseModel, Generic[Result]):
    """A worker's answer: ``result`` on success, else ``status`` + one-line ``reason``. The
    parent reads it as ``JobOutcome[Prepared | BuildOutcome | Measurements]`` for its job."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["ok", "failed", "unavailable"]
    reason: str | None = None
    result: Result | None = None


class AnyJob(BaseModel):
    """Parses any job file by its ``kind``."""

    job: Job
