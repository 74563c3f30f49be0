"""What the orchestrator asks a worker to do. Plain JSON both ways, so a worker needs nothing
from its parent's memory and a crash in one runtime cannot touch another."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from quantarena.config import MeasureConfig


class _Job(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrepareJob(_Job):
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
    variant: str
    recipe: dict[str, Any]
    bundle: Path
    calibration: Path
    workdir: Path


class MeasureJob(_Job):
    kind: Literal["measure"] = "measure"
    variant: str
    recipe: dict[str, Any]
    artifact: Path
    evaluation: Path
    threads: int
    measure: MeasureConfig
    accuracy: bool  # False for random weights
    accuracy_unavailable_reason: str = ""
    predictions_path: Path


Job = PrepareJob | BuildJob | MeasureJob


class JobOutcome(BaseModel):
    """A worker's answer: ``result`` on success, else ``status`` + one-line ``reason``."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["ok", "failed", "unavailable"]
    reason: str | None = None
    result: dict[str, Any] = {}
