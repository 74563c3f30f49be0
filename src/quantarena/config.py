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

from quantarena.devices import DEVICE_HELP, device_defaults
from quantarena.errors import ConfigError, QuantarenaError, one_line
from quantarena.serving.config import ScenarioConfig

DEFAULT_DATASET = Path("../shared/datasets/imagenet-val-sample")
#: where runs go without ``--out``: ``runs/MODEL-TIMESTAMP``
RUNS_DIR = Path("runs")


def usable_cpus() -> list[int]:
    """The CPU ids this process may run on (its affinity mask, which a container, ``taskset`` or
    a batch scheduler may have narrowed), not the machine's count: more threads than these only
    make the runtimes' threads wait for each other, and pinning to any other id fails."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cpu_list(cpus: list[int]) -> str:
    return ",".join(str(c) for c in cpus)


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
        0.01,
        gt=0,
        lt=1,
        description="stop once the 95% CI of the median is within +/- this fraction",
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
    throughput_from_accuracy: bool = Field(
        True, description="time the throughput at the accuracy pass's batch size over that pass "
        "(every evaluation batch once, its first calls as the warm-up) instead of a pass of its "
        "own; a pass of its own still runs where the accuracy pass cannot be timed",
    )
    interleave: bool = Field(
        True, description="after every variant is measured, time them again in interleaved "
        "rounds (one process per variant, kept loaded) for paired speed-ups with CIs",
    )
    rounds_target_ci: float = Field(
        0.03, gt=0, lt=1, description="rounds stop once every speed-up vs the reference has a "
        "95% CI within +/- this fraction",
    )
    rounds_max_seconds: float = Field(60.0, gt=0, description="time cap of the rounds")
    rounds_max: int = Field(50, ge=2, description="most rounds")
    rounds_window_seconds: float = Field(
        0.5, gt=0, description="each variant's batch-1 window per round lasts at least this long"
    )
    rounds_window_calls: int = Field(5, ge=1, description="... and times at least these calls")
    rounds_workers: int = Field(
        2, ge=1, le=8, description="timing worker processes per variant; the rounds take turns "
        "among them, so a speed-up's CI also covers how much fresh processes of one artifact "
        "differ",
    )

    @model_validator(mode="after")
    def _caps(self) -> MeasureConfig:
        """Caps below their minimums, or batch sizes that cannot run, would otherwise surface as
        a measurement that silently never met its own rule, or a worker crash, hours later."""
        if self.latency_max_seconds < self.latency_min_seconds:
            raise ValueError("latency_max_seconds must be >= latency_min_seconds")
        if self.throughput_max_seconds < self.throughput_min_seconds:
            raise ValueError("throughput_max_seconds must be >= throughput_min_seconds")
        if self.rounds_window_seconds > self.rounds_max_seconds:
            raise ValueError("rounds_window_seconds must be <= rounds_max_seconds")
        if any(b < 1 for b in self.throughput_batches):
            raise ValueError("throughput batch sizes must be >= 1")
        if len(set(self.throughput_batches)) != len(self.throughput_batches):
            raise ValueError("a throughput batch size is listed twice")
        return self


class RunConfig(_Strict):
    """One benchmark run: a model, a dataset, the variants to compare and how to measure them."""

    model: str = Field(
        "mobilenet_v2",
        description="torchvision classifier name, path to an .onnx file, or "
        "package.module:factory(key=value, ...) returning a torch module",
    )
    weights: str = Field(
        "default",
        description="'default', a torchvision weights name (IMAGENET1K_V1), 'none' (random), or a "
                    ".pth file",
    )
    input_size: int | None = Field(
        None, ge=1,
        description="ONNX files and factory models: crop size (ONNX default: from the file; "
        "required for a factory)",
    )
    resize: int | None = Field(
        None, ge=1, description="ONNX files and factory models: shorter-side resize before the crop"
    )
    mean: tuple[float, float, float] | None = Field(
        None, description="ONNX files and factory models: per-channel mean"
    )
    std: tuple[float, float, float] | None = Field(
        None, description="ONNX files and factory models: per-channel std"
    )
    data: Path = Field(
        DEFAULT_DATASET,
        description="labeled image folder (images/ + labels.csv, or wnid sub-folders)",
    )
    device: Literal["cpu", "cuda"] = Field("cpu", description=DEVICE_HELP)
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
    seed: int = Field(0, ge=0, description="seed of the split and of random weights")
    threads: int = Field(
        default_factory=lambda: len(usable_cpus()),
        ge=1,
        description="intra-op threads of every runtime (default: the CPUs this process may use; "
                    "more than those is allowed, with a warning)",
    )
    pin_cpus: list[int] | None = Field(
        None, description="CPU ids every worker is pinned to (each must be usable here)"
    )
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
    scenarios: ScenarioConfig = Field(
        default_factory=ScenarioConfig, description="MLPerf LoadGen serving scenarios (off unless "
        "some are listed)",
    )

    @model_validator(mode="before")
    @classmethod
    def _device_defaults(cls, data: Any) -> Any:
        return device_defaults(data)

    @field_validator("variants")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one variant is needed")
        if len(set(value)) != len(value):
            raise ValueError("a variant is listed twice")
        return value

    @field_validator("pin_cpus")
    @classmethod
    def _usable_cpus_only(cls, value: list[int] | None) -> list[int] | None:
        """Checked here, not in the worker: there ``sched_setaffinity`` fails with a bare
        ``OSError: [Errno 22]`` that reads like a model failure, after the run has started."""
        if not value:
            return value
        usable = usable_cpus()
        missing = sorted(set(value) - set(usable))
        if missing:
            raise ValueError(
                f"CPU {_cpu_list(missing)} {'is' if len(missing) == 1 else 'are'} not usable "
                f"here; usable CPUs: {_cpu_list(usable)}"
            )
        return value

    @field_validator("std")
    @classmethod
    def _positive_std(
        cls, value: tuple[float, float, float] | None
    ) -> tuple[float, float, float] | None:
        """Normalization divides by each channel's std: zero would turn every image into
        infinities, a negative one flips the channel."""
        if value is not None and any(s <= 0 for s in value):
            raise ValueError("every std must be > 0")
        return value

    @model_validator(mode="after")
    def _factory_reference(self) -> RunConfig:
        """A factory reference is parsed (not imported) here, so a typo or a missing
        ``--input-size`` fails before any worker starts."""
        from quantarena.models.reference import model_kind, parse_factory

        if model_kind(self.model) != "factory":
            return self
        try:
            parse_factory(self.model)
        except QuantarenaError as exc:
            raise ValueError(str(exc)) from None
        if self.input_size is None:
            raise ValueError(f"--model {self.model!r} is a factory: --input-size is required")
        return self

    @model_validator(mode="after")
    def _crop_fits(self) -> RunConfig:
        """The center crop is taken from the resized image, so it cannot be larger."""
        if self.resize is not None and self.input_size is not None:
            if self.resize < self.input_size:
                raise ValueError(
                    f"resize ({self.resize}) must be >= input_size ({self.input_size}): the crop "
                    "is cut from the resized image"
                )
        return self

    def warnings(self) -> list[str]:
        """Settings that are valid but make the numbers worse, one line each, for the run to
        print and record. More threads than usable CPUs is allowed (someone may study
        oversubscription) but every latency is then inflated by threads waiting for a core, and
        a time-capped pass may time only a call or two."""
        lines = []
        usable = self.pin_cpus or usable_cpus()
        kind = "pinned" if self.pin_cpus else "usable"
        if self.threads > len(usable):
            lines.append(
                f"--threads {self.threads} is more than the {len(usable)} {kind} CPU(s) "
                f"({_cpu_list(usable)}): the runtimes' threads will wait for each other and "
                f"every latency will be inflated; --threads {len(usable)} measures the machine"
            )
        return lines

    def resolved(self) -> RunConfig:
        """A copy with the output folder and paths made concrete (what the results record)."""
        out = self.out
        if out is None:
            from quantarena.models.reference import run_stem

            out = RUNS_DIR / f"{run_stem(self.model)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
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
            raise ConfigError(f"{path} is not valid YAML: {one_line(exc)}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {one_line(exc)}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of settings")
        data.update(loaded)
    overrides = dict(overrides)
    measure = dict(_mapping(data.pop("measure", {}), "measure"))
    measure.update(overrides.pop("measure", {}) or {})
    # Recipe knobs merge per variant: a flag changes one knob, not the file's whole recipe.
    recipes = {
        str(k): dict(_mapping(v, f"recipes.{k}"))
        for k, v in _mapping(data.pop("recipes", {}), "recipes").items()
    }
    for variant, knobs in (overrides.pop("recipes", {}) or {}).items():
        recipes.setdefault(variant, {}).update(knobs)
    scenarios = data.pop("scenarios", None)
    if isinstance(scenarios, list) or scenarios is None:  # the list shorthand
        scenarios = {} if scenarios is None else {"scenarios": scenarios}
    scenarios = dict(_mapping(scenarios, "scenarios"))
    scenarios.update(overrides.pop("scenarios", {}) or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    data["measure"] = measure
    data["scenarios"] = scenarios
    data["recipes"] = recipes
    try:
        return RunConfig(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {_message(e['msg'])}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def _mapping(value: Any, key: str) -> dict[Any, Any]:
    """``value`` of the YAML key ``key`` as a mapping (empty when left blank), or one line saying
    it is not one: ``dict(5)`` would otherwise be a ``TypeError`` traceback."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"invalid configuration: {key} must be a mapping of settings")
    return value


def _message(text: str) -> str:
    """Pydantic's message without the "Value error, " it prefixes to our own validators' text."""
    return text.removeprefix("Value error, ")
