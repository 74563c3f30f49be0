"""Typed settings of the serving scenarios (the ``scenarios`` section of a run's config).

The defaults keep a whole serving experiment practical on a 2-core machine: every performance run
lasts at least ``min_duration_s`` (5 s) and a query count that LoadGen's early-stopping rule can
accept; ``mlperf_official`` switches to MLPerf's own settings for ResNet50 (LoadGen's built-in
``mlperf.conf``: 600 s per run, 1024 performance samples), where a run takes hours.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ScenarioName = Literal["single-stream", "multi-stream", "offline", "server"]
ModeName = Literal["compute", "end-to-end"]
#: in the order a run measures them (Offline first: it sizes the Server search)
SCENARIO_ORDER: tuple[ScenarioName, ...] = ("single-stream", "multi-stream", "offline", "server")


class ScenarioConfig(BaseModel):
    """Which LoadGen scenarios run on every variant, how long, and the server's batching knobs."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    scenarios: list[ScenarioName] = Field(
        [], description="LoadGen scenarios to run on every variant: single-stream, multi-stream, "
        "offline, server (default: none)",
    )
    modes: list[ModeName] = Field(
        ["compute", "end-to-end"], description="compute: queries are cached preprocessed images; "
        "end-to-end: queries are JPEG bytes decoded, resized and normalized inside the timed path",
    )
    latency_bound_ms: float = Field(
        15.0, gt=0, description="Server: p99 latency bound in ms (MLPerf's ResNet50 bound: 15)"
    )
    mlperf_official: bool = Field(
        False, description="MLPerf's official ResNet50 settings from LoadGen's mlperf.conf "
        "(600 s per run, 1024 performance samples) instead of the practical ones",
    )
    min_duration_s: float = Field(5.0, gt=0, description="each performance run lasts at least this")
    single_stream_queries: int = Field(256, ge=1, description="SingleStream: queries, at least")
    multi_stream_queries: int = Field(
        662, ge=1, description="MultiStream: queries, at least (662: fewest LoadGen's early "
        "stopping accepts for a p99)",
    )
    multi_stream_samples: int = Field(8, ge=1, description="MultiStream: samples per query")
    offline_batch: int | None = Field(
        None, ge=1, description="Offline: batch size the SUT runs (default: the fastest of the "
        "throughput passes' batch sizes, else 32)",
    )
    server_queries: int = Field(
        600, ge=1, description="Server: queries per tried QPS, at least (LoadGen's early "
        "stopping needs 459 for a p99 with none over the bound)",
    )
    server_max_batch: int = Field(8, ge=1, description="Server: most samples the SUT batches")
    server_max_wait_ms: float = Field(
        0.0, ge=0, description="Server: longest a query waits for others to batch with (0: "
        "batch what is queued when the model is free)",
    )
    server_idle: Literal["sleep", "spin"] = Field(
        "sleep", description="Server: how the SUT waits for the next query: sleep (on the "
        "queue, the core goes idle) or spin (poll it, keeping the serving core busy between "
        "queries: calls after an idle gap run faster on a VM, at the cost of that core); the "
        "other scenarios are answered inline on LoadGen's thread and never wait",
    )
    server_search_steps: int = Field(
        6, ge=1, le=20, description="Server: bisection steps of the max-QPS search"
    )
    performance_samples: int = Field(
        256, ge=1, description="images LoadGen keeps loaded (capped at the evaluation split)"
    )
    loadgen_accuracy: bool = Field(
        True, description="also run LoadGen's accuracy mode and check it agrees, image by image, "
        "with the accuracy pass",
    )
    preprocess_threads: int | None = Field(
        None, ge=1, description="end-to-end: threads decoding a batch's JPEGs (default: --threads)"
    )

    @model_validator(mode="before")
    @classmethod
    def _list_shorthand(cls, value: Any) -> Any:
        """``scenarios: [server, offline]`` in YAML is the list of scenarios, all else default."""
        if isinstance(value, list):
            return {"scenarios": value}
        return value

    @model_validator(mode="after")
    def _no_duplicates(self) -> ScenarioConfig:
        if len(set(self.scenarios)) != len(self.scenarios):
            raise ValueError("a scenario is listed twice")
        if self.scenarios and not self.modes:
            raise ValueError("scenarios need at least one mode (compute, end-to-end)")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.scenarios)

    def ordered(self) -> list[ScenarioName]:
        return [name for name in SCENARIO_ORDER if name in self.scenarios]

    def budget_seconds(self) -> float:
        """A generous bound on one variant's scenario time (added to the measuring worker's
        timeout): each run's minimum duration, with room for slow variants (a MultiStream run of
        a slow one lasts minutes: its query count, not its duration, ends it), a Server run at
        most the search's cap, and LoadGen's drain."""
        run_s = 600.0 if self.mlperf_official else self.min_duration_s
        slowest = max(3.0 * run_s, 180.0) + 30.0
        per_mode = sum(
            self.server_search_steps * (max(run_s, 60.0) + 30.0) if s == "server" else slowest
            for s in self.scenarios
        )
        return (per_mode + (180.0 if self.loadgen_accuracy else 0.0)) * len(self.modes)
