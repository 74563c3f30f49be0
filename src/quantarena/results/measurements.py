"""Measurements as typed objects: each computes its own statistics, aggregates across measuring
processes, says what about it deserves a note, and is exactly what ``results.json`` stores and the
reports render. A measurement that could not be taken is an ``Unavailable`` with the reason.

Only NumPy and the statistics helpers are imported here, so reading results needs no runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from quantarena.measure.stats import bootstrap_ci_pp, mcnemar_exact_p, mean_ci, median_ci

#: A latency drift (second half vs first half of the window) above this earns a note on the row.
DRIFT_NOTE_PCT = 5.0
#: Other processes above this share of the machine's CPU while timing earn a note on the row.
CONTENTION_PERCENT = 10.0


class Block(BaseModel):
    """A results block: unknown keys (from newer writers) are kept, not rejected."""

    model_config = ConfigDict(extra="allow")

    def row_notes(self) -> list[str]:
        """Lines this measurement wants on its variant's row (drift, contention ...)."""
        return []


class Unavailable(BaseModel):
    """Why something could not be measured or run here. The one way to say "no" anywhere:
    variant availability, a measurement a session cannot give, a missing sensor."""

    model_config = ConfigDict(frozen=True)
    reason: str


class Timings(Block):
    load_seconds: float
    first_inference_ms: float


class Latency(Block):
    """Per-call latency in milliseconds of one batch size, with the CI of the median and why
    measuring stopped. ``aggregate`` combines the runs of several measuring processes."""

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
    stop_reason: str  # "ci_target" | "time_cap"
    warmup_iterations: int
    warmup_stable: bool
    p25: float | None = None
    p75: float | None = None
    quantiles: list[float] = []  # percentiles 0..100 of the per-call latency
    drift_pct: float | None = None  # median of the 2nd half of the calls vs the 1st, percent
    p50_runs: list[float] = []  # with measure.repeats > 1: each measuring process's median
    p50_between_runs: dict[str, Any] | None = None  # {low, high, coverage}: CI of the run medians

    @classmethod
    def from_samples(
        cls,
        times_s: Sequence[float],
        *,
        batch: int,
        seconds: float,
        stop_reason: str,
        warmup_iterations: int,
        warmup_stable: bool,
    ) -> Latency:
        ms = np.asarray(times_s, dtype=np.float64) * 1000.0
        quantiles = [float(v) for v in np.percentile(ms, np.arange(101))]
        mean = float(ms.mean())
        std = float(ms.std(ddof=1)) if len(ms) > 1 else 0.0
        return cls(
            batch=batch,
            iterations=len(ms),
            seconds=seconds,
            mean=mean,
            std=std,
            min=float(ms.min()),
            p25=quantiles[25],
            p50=quantiles[50],
            p75=quantiles[75],
            p90=quantiles[90],
            p99=quantiles[99],
            max=float(ms.max()),
            cv=std / mean if mean else 0.0,
            p50_ci95=list(median_ci(ms)),
            stop_reason=stop_reason,
            warmup_iterations=warmup_iterations,
            warmup_stable=warmup_stable,
            quantiles=quantiles,
            drift_pct=_drift_pct(ms),
        )

    def mean_ci95(self) -> tuple[float, float]:
        """Normal-approximation 95% CI of the mean call time (from the stored mean and std)."""
        lo, hi = mean_ci(self.mean, self.std, self.iterations)
        return max(lo, 1e-9), hi

    @classmethod
    def aggregate(cls, runs: Sequence[Latency]) -> Latency:
        """The run with the median p50 stands for all; ``p50_runs`` lists every run's median and
        ``p50_between_runs`` their range with its exact coverage as a CI of the typical run median
        (order statistics: the true median lies between the lowest and highest of k runs with
        probability 1 - 2 * 0.5**k). On a shared or virtual machine this spread is often far wider
        than one run's CI, and it is the honest one to compare with."""
        if not runs:
            raise ValueError("no latency runs to aggregate")
        if len(runs) == 1:
            return runs[0]
        medians = [run.p50 for run in runs]
        chosen = sorted(runs, key=lambda run: run.p50)[len(runs) // 2]
        between = {
            "low": min(medians),
            "high": max(medians),
            "coverage": 1 - 2 * 0.5 ** len(medians),
        }
        return chosen.model_copy(update={"p50_runs": medians, "p50_between_runs": between})

    def row_notes(self) -> list[str]:
        if self.drift_pct is not None and abs(self.drift_pct) > DRIFT_NOTE_PCT:
            return [
                f"batch-{self.batch} latency drifted {self.drift_pct:+.1f}% between the first and "
                "second "
                "half of its window: the machine's speed changed while measuring (consider "
                "--repeats)"
            ]
        return []


def _drift_pct(ms: np.ndarray) -> float:
    half = len(ms) // 2
    if half < 5:
        return 0.0
    first, second = float(np.median(ms[:half])), float(np.median(ms[half:]))
    return (second - first) / first * 100.0 if first > 0 else 0.0


class Throughput(Block):
    """Images per second at one batch size: the mean rate, its CI mapped from the CI of the mean
    batch time."""

    batch: int
    images_per_s: float
    images_per_s_ci95: list[float]
    iterations: int
    batch_latency_ms_p50: float
    stop_reason: str
    warmup_iterations: int = 0
    images_per_s_runs: list[float] = []  # with measure.repeats > 1: each process's rate

    @classmethod
    def from_latency(cls, calls: Latency) -> Throughput:
        lo_ms, hi_ms = calls.mean_ci95()
        return cls(
            batch=calls.batch,
            images_per_s=calls.batch / (calls.mean / 1000.0),
            images_per_s_ci95=[calls.batch / (hi_ms / 1000.0), calls.batch / (lo_ms / 1000.0)],
            iterations=calls.iterations,
            batch_latency_ms_p50=calls.p50,
            stop_reason=calls.stop_reason,
            warmup_iterations=calls.warmup_iterations,
        )

    @classmethod
    def aggregate(cls, runs: Sequence[Sequence[Throughput]]) -> list[Throughput]:
        """Per batch size, the run with the median rate, listing every run's rate."""
        if len(runs) == 1:
            return list(runs[0])
        combined = []
        for batch in dict.fromkeys(t.batch for run in runs for t in run):
            same = [t for run in runs for t in run if t.batch == batch]
            chosen = sorted(same, key=lambda t: t.images_per_s)[len(same) // 2]
            combined.append(
                chosen.model_copy(update={"images_per_s_runs": [t.images_per_s for t in same]})
            )
        return combined


class Memory(Block):
    peak_rss_mb: float
    baseline_rss_mb: float | None = None
    after_load_rss_mb: float | None = None
    load_increase_mb: float | None = None
    inference_increase_mb: float | None = None


class CpuTime(Block):
    """Process CPU seconds per image over a throughput window: an energy proxy that exists on
    every machine (it counts every thread of the worker, whatever the runtime)."""

    batch: int
    images: int
    window_s: float
    seconds_per_image: float


class Energy(Block):
    """Joules per image from hardware counters (RAPL, NVML) over a throughput window."""

    batch: int
    images: int
    window_s: float
    joules_per_image: float
    sources: list[str]


class Contention(Block):
    """CPU used by other processes while the variant was timed (system busy time minus ours)."""

    window_s: float
    others_cpu_percent: float
    own_cpu_percent: float

    def row_notes(self) -> list[str]:
        if self.others_cpu_percent > CONTENTION_PERCENT:
            return [
                f"other processes used {self.others_cpu_percent:.0f}% of the CPU while this "
                "variant was "
                "timed: its latency and throughput may be inflated"
            ]
        return []


class PairedComparison(Block):
    """Variant vs reference on the same images (paired bootstrap CI, exact McNemar)."""

    images: int
    delta_pp: float  # top-1 change in percentage points (variant - reference)
    ci95_pp: list[float]
    mcnemar_p: float
    gained: int  # images the variant gets right and the reference wrong
    lost: int  # images the reference gets right and the variant wrong
    significant: bool  # CI excludes zero and p < 0.05

    @classmethod
    def of(cls, correct: np.ndarray, reference_correct: np.ndarray) -> PairedComparison:
        """``correct``/``reference_correct``: per-image booleans of the same images, in order."""
        a = np.asarray(correct, dtype=bool)
        r = np.asarray(reference_correct, dtype=bool)
        if a.shape != r.shape or a.ndim != 1 or len(a) == 0:
            raise ValueError(
                "paired comparison needs two equal-length, non-empty per-image vectors"
            )
        lo, hi = bootstrap_ci_pp(a.astype(np.int8) - r.astype(np.int8))
        gained, lost = int(np.sum(a & ~r)), int(np.sum(~a & r))
        p = mcnemar_exact_p(gained, lost)
        return cls(
            images=len(a),
            delta_pp=float((a.mean() - r.mean()) * 100.0),
            ci95_pp=[lo, hi],
            mcnemar_p=p,
            gained=gained,
            lost=lost,
            significant=bool(p < 0.05 and not (lo <= 0.0 <= hi)),
        )


class Accuracy(Block):
    """Top-1/top-5 on the evaluation split; with a reference, the paired change and agreement."""

    images: int
    top1: float
    top5: float
    top1_delta_pp: float | None = None
    agreement_top1: float | None = None
    vs_reference: PairedComparison | None = None

    def compared_with(
        self, top1: np.ndarray, labels: np.ndarray, reference_top1: np.ndarray
    ) -> Accuracy:
        """This accuracy with the paired comparison against the reference's top-1 predictions."""
        if len(top1) != len(reference_top1):
            raise ValueError("reference and variant were evaluated on different images")
        comparison = PairedComparison.of(top1 == labels, reference_top1 == labels)
        return self.model_copy(
            update={
                "top1_delta_pp": comparison.delta_pp,
                "agreement_top1": float(np.mean(top1 == reference_top1)),
                "vs_reference": comparison,
            }
        )


#: The measurement keys of a variant's row, in measuring order (also the ``unavailable`` keys).
MeasurementKey = Literal[
    "latency", "throughput", "energy", "cpu_time", "contention", "memory", "accuracy"
]
