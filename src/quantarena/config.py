"""Typed run configuration: defaults, validation, YAML loading. No I/O beyond reading the YAML.

Every default here is shown by ``quantarena run --help`` and written, resolved, into the results.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from quantarena.errors import ConfigError

DEFAULT_DATASET = Path("../shared/datasets/imagenet-val-sample")


def default_variants() -> list[str]:
    """The registry's default variant list (imported on use: the registry loads adapters)."""
    from quantarena.toolchains.registry import DEFAULT_VARIANTS

    return list(DEFAULT_VARIANTS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MeasureConfig(_Strict):
    """How long and how hard each variant is measured."""

    eval_batch: int = Field(32, ge=1, description="batch size of the accuracy pass")
    repeats: int = Field(
        1,
        ge=1,
        le=20,
        description="fresh measuring processes per variant; above 1 the results also show the "
                    "spread between them",
    )
    latency_min_iterations: int = Field(
        50, ge=5, description="batch-1 runs at least this many times"
    )
    latency_min_seconds: float = Field(3.0, ge=0, description="... and for at least this long")
    latency_max_seconds: float = Field(20.0, gt=0, description="time cap of the batch-1 pass")
    latency_target_ci: float = Field(
        0.01, gt=0, description="stop once the 95% CI of the median is within +/- this fraction"
    )
    warmup_max_seconds: float = Field(
        10.0, ge=0, description="warm-up stops when stable or at this cap"
    )
    throughput_batches: list[int] = Field(
        [1, 32], description="batch sizes of the throughput passes"
    )
    throughput_min_iterations: int = Field(
        5, ge=2, description="batches per throughput pass, at least"
    )
    throughput_min_seconds: float = Field(3.0, ge=0, description="... and for at least this long")
    throughput_max_seconds: float = Field(
        15.0, gt=0, description="time cap of each throughput pass"
    )

    @model_validator(mode="after")
    def _caps(self) -> MeasureConfig:
        if self.latency_max_seconds < self.latency_min_seconds:
            raise ValueError("latency_max_seconds must be >= latency_min_seconds")
        if any(b < 1 for b in self.throughput_batches):
            raise ValueError("throughput batch sizes must be >= 1")
        return self


class RunConfig(_Strict):
    """One benchmark run: a model, a dataset, the variants to compare and how to measure them."""

    model: str = Field(
        "mobilenet_v2", description="torchvision classifier name or path to an .onnx file"
    )
    weights: str = Field(
        "default",
        description="'default', a torchvision weights name (IMAGENET1K_V1), 'none' (random), or a "
                    ".pth file",
    )
    input_size: int | None = Field(
        None, description="ONNX models: crop size (default: from the file)"
    )
    resize: int | None = Field(None, description="ONNX models: shorter-side resize before the crop")
    mean: tuple[float, float, float] | None = Field(
        None, description="ONNX models: per-channel mean"
    )
    std: tuple[float, float, float] | None = Field(None, description="ONNX models: per-channel std")
    data: Path = Field(
        DEFAULT_DATASET,
        description="labeled image folder (images/ + labels.csv, or wnid sub-folders)",
    )
    variants: list[str] = Field(default_factory=default_variants)
    recipes: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-variant recipe knobs, e.g. {'onnxruntime:int8': {'calibration_method': "
                    "'entropy'}}",
    )
    calibration_images: int = Field(
        200, ge=1, description="images in the calibration (and QAT) split"
    )
    eval_images: int | None = Field(
        None, ge=1, description="images in the evaluation split (default: the rest)"
    )
    seed: int = Field(0, description="seed of the split and of random weights")
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="intra-op threads of every runtime",
    )
    pin_cpus: list[int] | None = Field(None, description="CPU ids every worker is pinned to")
    malloc: Literal["steady", "system"] = Field(
        "steady",
        description="glibc allocator of every worker: 'steady' fixes its mmap/trim thresholds "
        "(no page faults per call on large buffers, no history-dependent speed); 'system' keeps "
        "glibc's defaults",
    )
    out: Path | None = Field(None, description="output folder (default runs/MODEL-TIMESTAMP)")
    cache_dir: Path = Field(Path("~/.cache/quantarena"), description="preprocessed-image cache")
    on_bad_image: Literal["error", "skip"] = Field(
        "error", description="a corrupt image stops the run, or is skipped and listed"
    )
    build_timeout: float = Field(1800.0, gt=0, description="seconds a build may take")
    measure_timeout: float = Field(900.0, gt=0, description="seconds a measurement worker may take")
    measure: MeasureConfig = Field(default_factory=MeasureConfig)

    @field_validator("variants")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one variant is needed")
        if len(set(value)) != len(value):
            raise ValueError("a variant is listed twice")
        return value

    def resolved(self) -> RunConfig:
        """A copy with the output folder and paths made concrete (what the results record)."""
        out = self.out
        if out is None:
            stem = Path(self.model).stem if self.model.endswith(".onnx") else self.model
            out = Path("runs") / f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        return self.model_copy(update={"out": out, "cache_dir": self.cache_dir.expanduser()})


def load_config(path: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """Config from a YAML file (optional) with command-line ``overrides`` applied on top."""
    data: dict[str, Any] = {}
    if path is not None:
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of settings")
        data.update(loaded)
    overrides = dict(overrides)
    measure = dict(data.pop("measure", {}) or {})
    measure.update(overrides.pop("measure", {}) or {})
    # Recipe knobs merge per variant: a flag changes one knob, not the file's whole recipe.
    recipes = {k: dict(v or {}) for k, v in (data.pop("recipes", {}) or {}).items()}
    for variant, knobs in (overrides.pop("recipes", {}) or {}).items():
        recipes.setdefault(variant, {}).update(knobs)
    data.update({k: v for k, v in overrides.items() if v is not None})
    data["measure"] = measure
    data["recipes"] = recipes
    try:
        return RunConfig(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
