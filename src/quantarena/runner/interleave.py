"""The interleaved phase of a run, after every variant has its own row: pick the timed variants,
decide whether their timing workers fit in memory together, start them, run the rounds, stop
them. Returns the ``Interleaved`` block for the results (or None, with the reason logged, when
there is nothing to pair).
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from quantarena.config import RunConfig
from quantarena.results.interleaved import Interleaved, WorkerStart
from quantarena.results.schema import VariantResult
from quantarena.runner.interrupt import RunInterrupted
from quantarena.runner.launcher import Launcher
from quantarena.runner.plan import PlannedVariant
from quantarena.runner.rounds import Rounds, RoundSettings, WindowSource
from quantarena.runner.timing_client import TimingFailed, TimingWorker
from quantarena.runner.timing_protocol import Ready, TimeRequest, TimingJob, WindowReply

#: The loaded workers must fit with this factor on their measured peak memory (the measuring
#: worker's peak covers larger batches than batch 1, so the estimate errs on the safe side) ...
MEMORY_MARGIN = 1.2
#: ... and leave this much memory (MB) to the rest of the machine.
MEMORY_RESERVE_MB = 512.0
#: Variables added to every timing worker's environment: none. Measured on a 2-core EPYC with
#: ``benchmarks/waiting_workers.py`` (CPU a loaded worker used after its window): PyTorch eager
#: and PT2E (OpenMP) and OpenVINO (TBB) used none; ONNX Runtime's intra-op threads used ~30 ms in
#: the first 50 ms, then none, and ONNX Runtime's spinning is a session option, not an
#: environment variable. ``OMP_WAIT_POLICY``/``KMP_BLOCKTIME`` are therefore not set (a passive
#: policy would also slow the calls being timed); the rounds pause ``rounds.SETTLE_S`` before each
#: window instead, and record every waiting worker's CPU (``waiting_cpu_s``).
TIMING_ENV: dict[str, str] = {}
#: Timing workers loading at once. A load is mostly one thread (PT2E's Inductor compile, which
#: cannot be cached: freezing and oneDNN weights bypass Inductor's caches); each worker warms up
#: afterwards, alone. On a 2-core AMD EPYC with AVX2, no VNNI, the 12 workers of ``make demo``
#: took 59 s one at a time (37 s of it PT2E's two) and 25 s so.
LOADING_AT_ONCE = 2


def timed_variants(
    planned: list[PlannedVariant], rows: dict[str, VariantResult]
) -> list[tuple[PlannedVariant, VariantResult]]:
    """The variants that measured speed: ``ok`` rows with a batch-1 latency and an artifact."""
    pairs = [(p, rows.get(p.name)) for p in planned]
    return [(p, r) for p, r in pairs
            if r is not None and r.status == "ok" and r.latency_ms is not None and r.artifact]


def memory_fallback(peaks_mb: list[float], available_mb: float) -> str | None:
    """Why the timing workers cannot all stay loaded, or None when they fit."""
    need = sum(peaks_mb) * MEMORY_MARGIN + MEMORY_RESERVE_MB
    if need <= available_mb:
        return None
    return (f"{len(peaks_mb)} loaded workers would need about {need:.0f} MB (their measured "
            f"peaks ×{MEMORY_MARGIN} + {MEMORY_RESERVE_MB:.0f} MB), {available_mb:.0f} MB "
            "is available")


@dataclass
class Loading:
    """What starting the kept-loaded workers gave: the variants one of whose workers failed, with
    the reason (the caller closes their workers), and how each other worker got ready."""

    failed: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerStart] = field(default_factory=list)


def load_workers(groups: dict[str, list[TimingWorker]], at_once: int) -> Loading:
    """Start every variant's workers, in order, with at most ``at_once`` loading at a time, then
    warm each up alone (their jobs say ``warm_up_at_load=False``: a warm-up beside another load
    ran to its cap, 15 s for PyTorch FP32's pair against 11 s one after the other)."""
    queue = deque((name, worker) for name, workers in groups.items() for worker in workers)
    loading: deque[tuple[str, TimingWorker]] = deque()
    loaded: dict[int, Ready] = {}
    result = Loading()
    failed = result.failed
    while queue or loading:
        while queue and len(loading) < at_once:
            name, worker = queue.popleft()
            if name not in failed:
                worker.start()
                loading.append((name, worker))
        if not loading:
            break
        name, worker = loading.popleft()
        if name in failed:  # its variant is out of the rounds: free the slot now
            worker.close()
            continue
        try:
            loaded[id(worker)] = worker.wait_ready()
        except TimingFailed as exc:
            failed[name] = str(exc)
    for name, workers in groups.items():
        for turn, worker in enumerate(workers):
            if name in failed:
                break
            try:
                began = time.perf_counter()
                warm = worker.warm_up()
                result.workers.append(_start_of(
                    name, turn, loaded[id(worker)], warm, time.perf_counter() - began))
            except TimingFailed as exc:
                failed[name] = str(exc)
    result.workers = [w for w in result.workers if w.variant not in failed]
    return result


def _start_of(name: str, turn: int, load: Ready, warm: Ready, warm_s: float) -> WorkerStart:
    return WorkerStart(
        variant=name, worker=turn, started_s=load.age_seconds, load_s=load.load_seconds,
        warmup_s=warm_s, warmup_calls=warm.warmup_calls, warmup_stable=warm.warmup_stable,
        rss_mb=warm.rss_mb,
    )


class FreshWorker:
    """A variant's timing worker started for one window and stopped after it: the fallback when
    the loaded workers would not fit in memory. Nothing of it runs between windows."""

    def __init__(self, make: Callable[[], TimingWorker]) -> None:
        self.make = make
        self.worker: TimingWorker | None = None

    def before_window(self) -> None:
        self.worker = self.make()
        self.worker.start()
        self.worker.wait_ready()

    def window(self, request: TimeRequest) -> WindowReply:
        if self.worker is None:
            raise TimingFailed("the timing worker was not started")
        return self.worker.window(request)

    def after_window(self) -> None:
        self.close()

    def cpu_seconds(self) -> float:
        return self.worker.cpu_seconds() if self.worker is not None else 0.0

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


class TakingTurns:
    """Several kept-loaded timing workers of one variant, one window each in turn.

    Fresh processes of one artifact differ (where the allocator and the kernel place their
    memory, which thread lands where): measured on a 2-core EPYC with
    ``benchmarks/competing_load.py``, two quiet runs' speed-ups differed by up to ~10% while each
    run's CI was ±1–3%. A CI from one process per variant describes those processes only; taking
    turns among several makes the round-to-round spread, and so the CI, include that difference.
    """

    def __init__(self, workers: list[TimingWorker]) -> None:
        self.workers = workers
        self.turn = -1

    def before_window(self) -> None:
        self.turn = (self.turn + 1) % len(self.workers)

    def window(self, request: TimeRequest) -> WindowReply:
        return self.workers[max(self.turn, 0)].window(request)

    def after_window(self) -> None:
        """Nothing to do: every worker stays loaded for the next rounds."""

    def cpu_seconds(self) -> float:
        return sum(w.cpu_seconds() for w in self.workers)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


@dataclass
class Phase:
    """What the interleaved phase needs from the run."""

    config: RunConfig
    launcher: Launcher
    evaluation: Path
    out: Path
    log: Callable[[str], None]
    #: MB of memory available; None reads it from the machine (tests declare it)
    available_mb: float | None = None
    #: what was timed before a stop signal ended the rounds (then ``run`` raises)
    partial: Interleaved | None = None

    def run(
        self, planned: list[PlannedVariant], rows: dict[str, VariantResult],
        reference: str | None, baselines: dict[str, str | None],
    ) -> Interleaved | None:
        measure = self.config.measure
        if not measure.interleave:
            return None
        timed = timed_variants(planned, rows)
        if len(timed) < 2:
            self.log("interleaved rounds skipped: fewer than two variants measured speed")
            return None
        available = self.available_mb
        if available is None:
            available = psutil.virtual_memory().available / 2**20
        per_variant = measure.rounds_workers
        fallback = memory_fallback(
            [r.memory.peak_rss_mb if r.memory else 0.0 for _, r in timed] * per_variant,
            available,
        )
        if fallback:
            per_variant = 1  # a fresh process per window already varies the process
        makers = {p.name: self._maker(p, r, warm_up_at_load=bool(fallback)) for p, r in timed}
        sources: dict[str, WindowSource] = {}
        failed: dict[str, str] = {}
        started = time.perf_counter()
        self.log(f"interleaved rounds: {len(timed)} variants"
                 + (f"; {fallback}: starting each worker afresh per window" if fallback
                    else f"; loading {per_variant} timing worker(s) per variant ..."))
        try:
            groups: dict[str, list[TimingWorker]] = {}
            for name, make in makers.items():
                if fallback:
                    sources[name] = FreshWorker(functools.partial(make, 0))
                    continue
                groups[name] = [make(turn) for turn in range(per_variant)]
                sources[name] = (TakingTurns(groups[name]) if per_variant > 1
                                 else groups[name][0])
            loading = load_workers(groups, LOADING_AT_ONCE)
            for name, reason in loading.failed.items():
                sources.pop(name).close()
                failed[name] = reason
                self.log(f"  {name}: timing worker failed to load: {reason}")
            loaded = time.perf_counter() - started
            if len(sources) < 2:
                self.log("interleaved rounds skipped: fewer than two timing workers loaded")
                return None
            rounds = Rounds(
                sources=sources, reference=reference, baselines=baselines,
                settings=RoundSettings(
                    request=TimeRequest(min_seconds=measure.rounds_window_seconds,
                                        min_calls=measure.rounds_window_calls),
                    target_ci=measure.rounds_target_ci, max_seconds=measure.rounds_max_seconds,
                    max_rounds=measure.rounds_max, seed=self.config.seed,
                ),
                log=self.log, stop=self.launcher.stop, fallback=fallback,
                worker_env=dict(TIMING_ENV), failed=failed, workers_per_variant=per_variant,
            )
            try:
                block = rounds.run()
            except RunInterrupted:
                self.partial = rounds.partial
                if self.partial is not None:
                    self.partial.load_seconds = loaded
                    self.partial.workers = loading.workers
                raise
            block.load_seconds = loaded
            block.workers = loading.workers
            self.log(f"  {block.stop_line()}")
            for note in [*block.machine.row_notes(), block.waiting_note()]:
                if note:
                    self.log(f"  note: {note}")
            return block
        finally:
            for source in sources.values():
                source.close()

    def _maker(
        self, p: PlannedVariant, row: VariantResult, *, warm_up_at_load: bool
    ) -> Callable[[int], TimingWorker]:
        """A factory of the variant's timing workers; turn ``i`` > 0 logs to ``SLUG.i.*``."""
        assert row.artifact is not None
        job = TimingJob(
            recipe=p.recipe.to_payload(p.name), artifact=self.out / row.artifact.path,
            evaluation=self.evaluation, threads=self.config.threads,
            warmup_max_seconds=self.config.measure.warmup_max_seconds,
            warm_up_at_load=warm_up_at_load,
        )
        return lambda turn: TimingWorker(
            p.name, p.slug if turn == 0 else f"{p.slug}.{turn}", job, self.launcher, TIMING_ENV
        )
