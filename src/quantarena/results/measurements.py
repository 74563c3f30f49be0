"""Measurements as typed objects: each computes its own statistics, aggregates across measuring
processes, says what about it deserves a note, and is exactly what ``results.json`` stores and the
reports render. A measurement that could not be taken is an ``Unavailable`` with the reason.

Only NumPy and the statistics helpers are imported here, so reading results needs no runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from quantarena.measure.stats import mean_ci, median_ci

#: A latency drift (second half vs first half of the window) above this earns a note on the row.
DRIFT_NOTE_PCT = 5.0
#: Other processes above this share of the machine's CPU while timing earn a note on the row.
CONTENTION_PERCENT = 10.0
#: Fewest calls whose order statistics can bound a median with 95% confidence: with n calls the
#: widest interval, [min, max], covers it with probability 1 - 2 * 0.5**n (0.97 at 6, 0.94 at 5).
#: With fewer, ``p50_ci95`` is left empty rather than claim a 95% interval it is not.
MIN_CI_CALLS = 6


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


#: A CPU session's answer to ``Session.gpu``.
RUNS_ON_CPU = Unavailable(reason="the session runs on the CPU: there is no device to time")


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
    #: the configured minimum count of calls (``measure``'s ``*_min_iterations``); a pass that hit
    #: its time cap before it timed this many says so on its row. None in results before 2.x.
    min_iterations: int | None = None

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
        min_iterations: int | None = None,
    ) -> Latency:
        """Statistics of the per-call times ``times_s`` (seconds). The CI of the median is left
        empty below ``MIN_CI_CALLS`` calls: one call would give a zero-width "95% CI" that reads
        as certainty where there is none."""
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
            p50_ci95=list(median_ci(ms)) if len(ms) >= MIN_CI_CALLS else [],
            stop_reason=stop_reason,
            warmup_iterations=warmup_iterations,
            warmup_stable=warmup_stable,
            quantiles=quantiles,
            drift_pct=_drift_pct(ms),
            min_iterations=min_iterations,
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
        """Drift within the window, and a pass that timed fewer calls than its minimum (the time
        cap came first) or too few for a CI: such a row is still ``ok``, so the note is what
        keeps its p50 from being read like a well-measured one."""
        notes = []
        if self.drift_pct is not None and abs(self.drift_pct) > DRIFT_NOTE_PCT:
            notes.append(
                f"batch-{self.batch} latency drifted {self.drift_pct:+.1f}% between the first and "
                "second "
                "half of its window: the machine's speed changed while measuring (consider "
                "--repeats)"
            )
        no_ci = len(self.p50_ci95) != 2 and not self.p50_between_runs
        what = (f"batch-{self.batch} call", f"batch-{self.batch} calls")
        short = _too_few(self.iterations, self.min_iterations, self.stop_reason, *what)
        if short:
            notes.append(short + ("; the CI is not meaningful" if no_ci else ""))
        elif no_ci:
            calls = _count(self.iterations, *what)
            notes.append(f"only {calls} timed: too few for a 95% CI of the median")
        return notes


def _too_few(count: int, minimum: int | None, stop_reason: str, one: str, many: str) -> str | None:
    """The note of a pass that timed fewer than its configured minimum, or None."""
    if minimum is None or count >= minimum:
        return None
    cause = ": the time cap was reached" if stop_reason == "time_cap" else ""
    return f"only {_count(count, one, many)} timed (minimum {minimum}){cause}"


def _count(count: int, one: str, many: str) -> str:
    """ "1 batch-1 call was" / "3 batch-1 calls were": the note reads as a sentence."""
    return f"{count} {one} was" if count == 1 else f"{count} {many} were"


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
    #: ``measure.throughput_min_iterations`` when measured (None in results before 2.x)
    min_iterations: int | None = None

    @classmethod
    def from_latency(cls, calls: Latency) -> Throughput:
        """The rate of a pass of batch calls. One batch has no spread to build a CI from, so its
        ``images_per_s_ci95`` is empty, not a zero-width interval."""
        lo_ms, hi_ms = calls.mean_ci95()
        ci = [calls.batch / (hi_ms / 1000.0), calls.batch / (lo_ms / 1000.0)]
        return cls(
            batch=calls.batch,
            images_per_s=calls.batch / (calls.mean / 1000.0),
            images_per_s_ci95=ci if calls.iterations >= 2 else [],
            iterations=calls.iterations,
            batch_latency_ms_p50=calls.p50,
            stop_reason=calls.stop_reason,
            warmup_iterations=calls.warmup_iterations,
            min_iterations=calls.min_iterations,
        )

    def row_notes(self) -> list[str]:
        """A pass that hit its time cap before its minimum count of batches says so."""
        short = _too_few(
            self.iterations,
            self.min_iterations,
            self.stop_reason,
            f"throughput batch of {self.batch}",
            f"throughput batches of {self.batch}",
        )
        if short is None:
            return []
        return [short + ("; its CI is not meaningful" if len(self.images_per_s_ci95) != 2 else "")]

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
