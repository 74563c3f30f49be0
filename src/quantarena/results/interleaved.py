"""The interleaved timing phase as a results block: after every variant is measured on its own,
the variants are timed again in rounds, one process per variant kept loaded, in a shuffled order
per round, so that each round's medians share one machine state and their ratios (``speedups``)
cancel what the machine did. Everything a reader needs to judge those ratios is here: the order
of every round, every window (including those discarded under contention), what the machine and
the waiting workers did, and why the rounds stopped.

Optional on ``Results``: files written before it existed, or runs with ``--interleave false``,
simply have none, and every reader falls back to the per-variant measurements.
"""

from __future__ import annotations

from pydantic import Field

from quantarena.durations import spoken
from quantarena.measure.machine_state import MachineTrace
from quantarena.results.measurements import Block
from quantarena.results.speedup import PairedSpeedup

#: Waiting workers that burned more than this share of a round's wall time earn a note: their
#: threads were spinning while another variant was timed, and slowed it.
WAITING_CPU_NOTE = 0.02


class RoundWindow(Block):
    """One variant's batch-1 window in one round. ``median_ms`` is what the speed-ups use: None
    when the window was discarded (``discarded`` says why: heavy contention, a worker failure) or
    not timed; ``measured_ms`` keeps the discarded window's median for the record."""

    round: int
    median_ms: float | None
    measured_ms: float | None = None
    calls: int = 0
    seconds: float = 0.0
    cpu_s: float | None = None  # the timing worker's own CPU over the window
    others_cpu_percent: float | None = None  # everything outside this process tree
    #: others plus the waiting workers' CPU, percent of the machine's CPU over the window
    interference_percent: float | None = None
    discarded: str | None = None


class WorkerStart(Block):
    """How one kept-loaded timing worker got ready. ``started_s``: from its launch to loaded
    (process start, imports, reading its inputs, the toolchain's load; another worker may have
    been loading beside it), None from workers that did not report it; ``load_s`` the toolchain's
    load alone (PT2E's includes its Inductor compile); ``warmup_s`` its warm-up, alone on the
    machine, as the runner timed it."""

    variant: str
    worker: int  # which of the variant's workers (0, 1, ...)
    started_s: float | None = None
    load_s: float
    warmup_s: float
    warmup_calls: int
    warmup_stable: bool
    rss_mb: float


class Interleaved(Block):
    """The rounds and the paired speed-ups they give.

    ``order[i]`` is the order variants were timed in round i (shuffled with ``seed``);
    ``medians_ms[name][i]`` the median of its window in round i (None: discarded or missing, see
    ``windows``); ``waiting_cpu_s[i][name]`` the CPU seconds a worker burned in round i while it
    was waiting (another variant was being timed); ``stop_reason`` is ``converged``, ``time_cap``,
    ``max_rounds`` or ``interrupted``; ``fallback`` says why workers were started afresh for every
    window instead of being kept loaded (memory), else None; ``worker_env`` the environment
    variables the timing workers got on top of every worker's; ``workers_per_variant`` how many
    processes of each variant the rounds took turns among (1 in results written before it was
    recorded); ``workers`` how each kept-loaded worker got ready (empty in a fallback, and in
    results written before it was recorded).
    """

    reference: str | None
    variants: list[str]
    seed: int
    window_seconds: float
    window_calls: int
    target_ci: float
    order: list[list[str]] = []
    medians_ms: dict[str, list[float | None]] = {}
    windows: dict[str, list[RoundWindow]] = {}
    machine: MachineTrace = Field(default_factory=MachineTrace)
    waiting_cpu_s: list[dict[str, float]] = []
    stop_reason: str = "not_started"
    seconds: float = 0.0  # wall time of the rounds (loading the workers excluded)
    load_seconds: float = 0.0  # wall time to start and warm up the timing workers
    fallback: str | None = None
    worker_env: dict[str, str] = {}
    failed: dict[str, str] = {}  # variants whose timing worker failed, and why
    speedups: list[PairedSpeedup] = []
    workers_per_variant: int = 1
    workers: list[WorkerStart] = []

    @property
    def rounds(self) -> int:
        return len(self.order)

    def pair(self, baseline: str, variant: str) -> PairedSpeedup | None:
        """``variant`` over ``baseline``: the stored pair, else computed from the medians (any
        two variants of the rounds compare), else None when either was not in the rounds."""
        stored = next(
            (s for s in self.speedups if s.baseline == baseline and s.variant == variant), None
        )
        if stored is not None:
            return stored
        if baseline not in self.medians_ms or variant not in self.medians_ms:
            return None
        return PairedSpeedup.of(
            baseline, variant, self.medians_ms[baseline], self.medians_ms[variant]
        )

    def vs_reference(self, variant: str) -> PairedSpeedup | None:
        if self.reference is None or variant == self.reference:
            return None
        return self.pair(self.reference, variant)

    def loading_line(self, shown: int = 3) -> str | None:
        """The variants slowest to get their workers ready, each with its slowest worker's
        launch-to-loaded seconds and the toolchain's load inside it, and the warm-ups' total:
        what to look at when ``load_seconds`` is a large part of a run."""
        slowest: dict[str, WorkerStart] = {}
        for start in self.workers:
            kept = slowest.get(start.variant)
            if kept is None or _started(start) > _started(kept):
                slowest[start.variant] = start
        if not slowest:
            return None
        ranked = sorted(slowest.values(), key=_started, reverse=True)[:shown]
        parts = [f"{s.variant} {spoken(_started(s))} (its load {spoken(s.load_s)})"
                 for s in ranked]
        warm = sum(s.warmup_s for s in self.workers)
        return (f"timing workers slowest to load: {', '.join(parts)}; "
                f"warm-ups {spoken(warm)} in all")

    def waiting_note(self) -> str | None:
        """Waiting workers that used the CPU while another variant was timed: the one thing that
        would make interleaving itself unfair."""
        worst: tuple[float, int, str] | None = None
        for index, (spent, sample) in enumerate(
            zip(self.waiting_cpu_s, self.machine.samples, strict=False)
        ):
            for name, seconds in spent.items():
                share = seconds / max(sample.interval_s, 1e-9)
                if share > WAITING_CPU_NOTE and (worst is None or share > worst[0]):
                    worst = (share, index, name)
        if worst is None:
            return None
        share, index, name = worst
        return (
            f"waiting timing workers used CPU while others were timed (worst: {name}, "
            f"{share * 100:.0f}% of round {index}'s time): the paired speed-ups may be skewed"
        )

    def notes(self) -> list[str]:
        """Lines for the report: how the rounds ended, the machine, waiting workers, fallback."""
        lines = [self.stop_line()]
        if self.fallback:
            lines.append(f"timing workers were started afresh for every window: {self.fallback}")
        discarded = sum(1 for ws in self.windows.values() for w in ws if w.discarded)
        if discarded:
            lines.append(f"{discarded} window(s) were discarded and re-measured in later rounds "
                         "(other processes or spinning workers well above the run's quietest "
                         "round, or a worker failure)")
        waiting = self.waiting_note()
        if waiting:
            lines.append(waiting)
        lines += [f"{name}: not in the rounds: {why}" for name, why in self.failed.items()]
        return lines

    def stop_line(self) -> str:
        why = {
            "converged": f"every speed-up vs the reference is within ±{self.target_ci:.0%}",
            "time_cap": "the time cap was reached before every CI met its target",
            "max_rounds": "the most rounds allowed were timed before every CI met its target",
            "interrupted": "the run was interrupted",
            "workers_failed": "timing workers failed: fewer than two, or not the reference's, "
                              "were left",
        }.get(self.stop_reason, self.stop_reason)
        return (f"{self.rounds} interleaved round(s) of {len(self.variants)} variants in "
                f"{self.seconds:.0f} s: stopped because {why}")


def _started(start: WorkerStart) -> float:
    return start.started_s if start.started_s is not None else start.load_s
