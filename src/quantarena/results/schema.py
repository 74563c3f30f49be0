"""The results file: quantarena's contract with its users. Versioned; every key documented in
docs/results-schema.md. Bump ``SCHEMA_VERSION`` (major) on any incompatible change."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = "1.0"
Status = Literal["ok", "failed", "unavailable"]


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow")


class Tool(_Block):
    name: str = "quantarena"
    version: str


class ModelInfo(_Block):
    name: str
    source: str
    weights: str
    pretrained: bool
    input_shape: list[int]
    preprocessing: dict[str, Any]
    notes: list[str] = []


class DatasetInfo(_Block):
    name: str
    root: str
    layout: str
    eval_images: int
    calibration_images: int
    eval_list_sha256: str
    calibration_list_sha256: str
    seed: int
    skipped_images: list[str] = []


class Artifact(_Block):
    path: str
    size_mb: float
    files: list[str]


class Build(_Block):
    seconds: float
    calibration_images: int


class Accuracy(_Block):
    images: int
    top1: float
    top5: float
    top1_delta_pp: float | None = None
    agreement_top1: float | None = None
    vs_reference: dict[str, Any] | None = None


class Latency(_Block):
    batch: int
    iterations: int
    seconds: float
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p99: float
    max: float
    cv: float
    p50_ci95: list[float]
    stop_reason: str
    warmup_iterations: int
    warmup_stable: bool
    p25: float | None = None
    p75: float | None = None
    quantiles: list[float] = []  # percentiles 0..100 of the per-call latency
    drift_pct: float | None = None  # median of the 2nd half of the calls vs the 1st, percent
    p50_runs: list[float] = []  # with measure.repeats > 1: each measuring process's median
    p50_between_runs: dict[str, Any] | None = None  # {low, high, coverage}: CI of the run medians


class Throughput(_Block):
    batch: int
    images_per_s: float
    images_per_s_ci95: list[float]
    iterations: int
    batch_latency_ms_p50: float
    stop_reason: str
    warmup_iterations: int = 0


class Memory(_Block):
    peak_rss_mb: float
    baseline_rss_mb: float | None = None
    after_load_rss_mb: float | None = None
    load_increase_mb: float | None = None
    inference_increase_mb: float | None = None


class Timings(_Block):
    load_seconds: float
    first_inference_ms: float


class VariantResult(_Block):
    name: str
    toolchain: str
    precision: str
    recipe: dict[str, Any] = {}
    status: Status
    reason: str | None = None
    artifact: Artifact | None = None
    build: Build | None = None
    accuracy: Accuracy | None = None
    latency_ms: Latency | None = None
    throughput: list[Throughput] = []
    memory: Memory | None = None
    energy: dict[str, Any] | None = None
    timings: Timings | None = None
    contention: dict[str, Any] | None = None  # CPU use by other processes while timing
    runtime: dict[str, Any] = {}
    unavailable: dict[str, str] = {}  # measurement -> why it could not be measured
    notes: list[str] = []
    predictions_file: str | None = None


class Results(_Block):
    schema_version: str = SCHEMA_VERSION
    tool: Tool
    started_at: str
    finished_at: str | None = None
    config: dict[str, Any]
    environment: dict[str, Any]
    model: ModelInfo
    dataset: DatasetInfo
    reference: str | None = None
    variants: list[VariantResult] = []

    def variant(self, name: str) -> VariantResult | None:
        return next((v for v in self.variants if v.name == name), None)
