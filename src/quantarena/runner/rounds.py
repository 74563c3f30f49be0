"""The interleaved rounds: every variant timed once per round, in a shuffled order, one at a time,
until every speed-up vs the reference is known to the target or a cap is reached.

Why rounds: a slow minute on a shared machine lands on whichever variant happens to be timed.
Timed in rounds, a slow minute hits every variant of the rounds it spans alike, and the ratio of
two medians of one round cancels it (``results.speedup``). Shuffling the order of each round
keeps a fixed position (always first after the reference workload, always last) from favouring
one variant.

Each window is checked for interference: other processes' CPU (system busy time minus this
process tree's) and the CPU of the *waiting* timing workers (a runtime's threads spinning after
work). Pairing cancels a machine that is uniformly slower, but not a competing process: a busy
core slows runtimes very unequally (measured with ``benchmarks/competing_load.py``: one busy
core for 30 s made eager PyTorch's OpenMP threads about twice as slow and ONNX Runtime's and
OpenVINO's much less, so paired speed-ups over eager PyTorch nearly doubled). So a window whose
interference exceeds the run's quietest round (that round's median window) by more than
``UNEVEN_INTERFERENCE_POINTS`` is discarded (its value kept for the record) and the variant is
timed again in later rounds. The rule is applied again to every window after each round, so
windows timed under a load that was there from the start are discarded once a quiet round shows
what the machine is like without it. A load that stays through every round sets the quietest
level itself: nothing is discarded (there would be nothing left to pair) and the machine trace
and the report's machine line show it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from quantarena.measure.contention import ContentionWindow
from quantarena.measure.machine_state import MachineRecorder, MachineTrace, own_tree_cpu_seconds
from quantarena.results.interleaved import Interleaved, RoundWindow
from quantarena.results.measurements import Contention
from quantarena.results.speedup import PairedSpeedup, speedups_against, stop_rule
from quantarena.runner.interrupt import RunInterrupted, Stop
from quantarena.runner.timing_client import TimingFailed
from quantarena.runner.timing_protocol import TimeRequest, WindowReply

#: A window whose interference (other processes plus waiting workers, in percent of the machine's
#: CPU) exceeds the typical window of the run's quietest round by more than this many points is
#: discarded and re-measured in a later round. On two cores a busy process on one core for the
#: whole window is about 50 points; the row note of ``Contention`` starts at 10%.
UNEVEN_INTERFERENCE_POINTS = 15.0


class WindowSource(Protocol):
    """What the rounds need of a variant's timing worker (live, or started per window)."""

    def before_window(self) -> None: ...

    def window(self, request: TimeRequest) -> WindowReply: ...

    def after_window(self) -> None: ...

    def cpu_seconds(self) -> float: ...

    def close(self) -> None: ...


class InterferenceMeter(Protocol):
    """Other processes' CPU over one window (``measure.contention.ContentionWindow``)."""

    cores: int

    def start(self) -> None: ...

    def stop(self) -> Contention: ...


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _tree_contention() -> InterferenceMeter:
    """Everything but this process tree: the runner and its timing workers are left out here
    (the waiting workers' CPU is counted apart, from their own pids)."""
    return ContentionWindow(own=own_tree_cpu_seconds)


#: Most seconds of quiet before each window and before the round's reference workload. A
#: runtime's threads may spin after work: measured on a 2-core EPYC (benchmarks/waiting_workers.py),
#: a loaded ONNX Runtime worker used 30-60 ms of CPU in the first 50-100 ms after its window, then
#: nothing; PyTorch and OpenVINO workers used none. Without a pause, the next window's first
#: calls would compete with those threads. The pause ends sooner once the worker timed last is
#: seen idle (``SETTLE_POLL_S``).
SETTLE_S = 0.1
#: The settle polls the worker timed last this often and ends after a poll in which it used no
#: CPU. Linux counts a process's CPU in 10 ms ticks, so a spinning thread shows in every poll.
SETTLE_POLL_S = 0.02
#: CPU seconds below one 10 ms tick: a poll that shows less saw an idle worker.
IDLE_POLL_CPU_S = 0.005


@dataclass(frozen=True)
class RoundSettings:
    request: TimeRequest
    target_ci: float
    max_seconds: float
    max_rounds: int
    seed: int
    settle_s: float = SETTLE_S


@dataclass
class Rounds:
    """Runs the rounds over ``sources`` (in plan order) and builds the ``Interleaved`` block.

    ``reference`` anchors the stop rule (the run's reference when it is in the rounds, else the
    first variant); ``baselines`` maps a variant to its speed-up baseline, whose pair is stored
    too. ``recorder``, ``clock`` and ``contention`` (a window's other-process meter, which leaves
    this process tree out) can be replaced in tests."""

    sources: dict[str, WindowSource]
    reference: str | None
    baselines: dict[str, str | None]
    settings: RoundSettings
    log: Callable[[str], None] = print
    stop: Stop | None = None
    recorder: MachineRecorder = field(default_factory=MachineRecorder)
    clock: Callable[[], float] = time.perf_counter
    contention: Callable[[], InterferenceMeter] = field(default=_tree_contention)
    fallback: str | None = None
    worker_env: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    workers_per_variant: int = 1

    def __post_init__(self) -> None:
        self.names = list(self.sources)
        self.anchor = self.reference if self.reference in self.sources else self.names[0]
        self.alive = list(self.names)
        self.order: list[list[str]] = []
        self.windows: dict[str, list[RoundWindow]] = {n: [] for n in self.names}
        self.medians: dict[str, list[float | None]] = {n: [] for n in self.names}
        self.waiting: list[dict[str, float]] = []
        self.trace = MachineTrace()
        self._rng = random.Random(self.settings.seed)
        self._seconds = 0.0
        #: what was timed before a stop signal ended the rounds
        self.partial: Interleaved | None = None

    def run(self) -> Interleaved:
        """Time rounds until the stop rule says so or fewer than two workers are left; a stop
        signal ends them too (``partial`` then holds what was timed)."""
        start = self.clock()
        reason = "workers_failed"
        try:
            while len(self.alive) >= 2 and self.anchor in self.alive:
                self._round(len(self.order))
                self._seconds = self.clock() - start
                decision = stop_rule(
                    self._anchor_pairs(), rounds=len(self.order), elapsed_s=self._seconds,
                    max_seconds=self.settings.max_seconds, max_rounds=self.settings.max_rounds,
                    target=self.settings.target_ci,
                )
                worst = decision.worst
                width = worst.rel_half_width if worst is not None else None
                self.log(f"  round {len(self.order)}: widest CI "
                         + (f"±{width:.1%} ({worst.variant})" if worst and width is not None
                            else "not yet known"))
                if decision.stop:
                    reason = decision.reason
                    break
        except RunInterrupted:
            self._seconds = self.clock() - start
            self._drop_unfinished_round()
            self.partial = self.result("interrupted")
            raise
        return self.result(reason)

    def _round(self, index: int) -> None:
        order = [n for n in self.names if n in self.alive]
        self._rng.shuffle(order)
        self.order.append(order)
        self.recorder.begin_round()
        waiting = {n: 0.0 for n in order}
        last: str | None = None  # the round starts after the runner's own reference workload
        for name in order:
            if self.stop is not None:
                self.stop.check()
            self._settle(last)
            self.windows[name].append(self._window(index, name, waiting))
            last = name
        self._settle(last)
        self.trace.samples.append(self.recorder.end_round(index))
        self.waiting.append(waiting)
        self._discard_interfered()

    def _settle(self, last: str | None) -> None:
        """Quiet before the next window: until the worker timed last uses no more CPU, polled
        every ``SETTLE_POLL_S`` (at least one poll), for at most ``settle_s``. After the
        runner's own work (``last`` None: the reference workload, no spinning threads) one poll;
        a worker that has failed meanwhile is waited for in full."""
        limit = self.settings.settle_s
        if limit <= 0:
            return
        if last is None:
            time.sleep(min(SETTLE_POLL_S, limit))
            return
        if last not in self.alive:
            time.sleep(limit)
            return
        source = self.sources[last]
        deadline = time.perf_counter() + limit
        before = source.cpu_seconds()
        while (remaining := deadline - time.perf_counter()) > 0:
            time.sleep(min(SETTLE_POLL_S, remaining))
            now = source.cpu_seconds()
            if now - before < IDLE_POLL_CPU_S:
                return
            before = now

    def _window(self, index: int, name: str, waiting: dict[str, float]) -> RoundWindow:
        source = self.sources[name]
        others = [n for n in self.alive if n != name]
        try:
            source.before_window()
            spent0 = {n: self.sources[n].cpu_seconds() for n in others}
            window = self.contention()
            window.start()
            reply = source.window(self.settings.request)
            contention = window.stop()
            spent = {n: max(0.0, self.sources[n].cpu_seconds() - spent0[n]) for n in others}
            source.after_window()
        except TimingFailed as exc:
            self.failed[name] = str(exc)
            self.alive.remove(name)
            source.close()
            self.log(f"  {name}: timing worker failed, left out of later rounds: {exc}")
            return RoundWindow(round=index, median_ms=None, discarded=f"failed: {exc}")
        for n, seconds in spent.items():
            waiting[n] += seconds
        capacity = max(contention.window_s * window.cores, 1e-9)
        return RoundWindow(
            round=index, median_ms=reply.median_ms, measured_ms=reply.median_ms,
            calls=reply.calls, seconds=reply.seconds, cpu_s=reply.cpu_s,
            others_cpu_percent=contention.others_cpu_percent,
            interference_percent=contention.others_cpu_percent
            + sum(spent.values()) / capacity * 100.0,
        )

    def _discard_interfered(self) -> None:
        """Judge every timed window of the finished rounds against the quietest round's typical
        interference (discarding, or keeping again), then rebuild the per-round medians."""
        levels: dict[int, list[float]] = {}
        for windows in self.windows.values():
            for w in windows:
                if w.measured_ms is not None and w.interference_percent is not None:
                    levels.setdefault(w.round, []).append(w.interference_percent)
        typical = [_median(v) for v in levels.values()]
        quietest = min(typical) if typical else 0.0
        for windows in self.windows.values():
            for w in windows:
                if w.measured_ms is None or w.interference_percent is None:
                    continue  # a failed window stays as it is
                level = w.interference_percent
                if level - quietest > UNEVEN_INTERFERENCE_POINTS:
                    w.median_ms = None
                    w.discarded = (f"interference {level:.0f}% of the CPU (other processes "
                                   f"{w.others_cpu_percent or 0.0:.0f}%, waiting workers the "
                                   f"rest) vs {quietest:.0f}% in the run's quietest round")
                else:
                    w.median_ms, w.discarded = w.measured_ms, None
        rounds = len(self.order)
        for name in self.names:
            medians: list[float | None] = [None] * rounds
            for w in self.windows[name]:
                if w.round < rounds:
                    medians[w.round] = w.median_ms
            self.medians[name] = medians

    def _drop_unfinished_round(self) -> None:
        """A round cut short has windows of some variants only: it pairs nothing reliably (and
        has no machine sample), so the results keep the finished rounds."""
        finished = len(self.trace.samples)
        del self.order[finished:]
        del self.waiting[finished:]
        for name in self.names:
            self.windows[name] = [w for w in self.windows[name] if w.round < finished]

    def _anchor_pairs(self) -> list[PairedSpeedup]:
        """The pairs the stop rule watches: every variant still timed vs the anchor."""
        alive = {n: self.medians[n] for n in self.names if n in self.alive}
        if self.anchor not in alive:
            return []
        return speedups_against(self.anchor, alive)

    def speedups(self) -> list[PairedSpeedup]:
        """Every variant vs the anchor, and vs its own baseline where that is another variant
        of the rounds (each pair once)."""
        pairs = [(self.anchor, n) for n in self.names if n != self.anchor]
        pairs += [(b, n) for n in self.names
                  if (b := self.baselines.get(n)) in self.medians and b != n]
        return [PairedSpeedup.of(b, v, self.medians[b], self.medians[v])
                for b, v in dict.fromkeys(pairs)]

    def result(self, stop_reason: str) -> Interleaved:
        request = self.settings.request
        return Interleaved(
            reference=self.anchor, variants=self.names, seed=self.settings.seed,
            window_seconds=request.min_seconds, window_calls=request.min_calls,
            target_ci=self.settings.target_ci, order=self.order, medians_ms=self.medians,
            windows=self.windows, machine=self.trace, waiting_cpu_s=self.waiting,
            stop_reason=stop_reason, seconds=self._seconds, fallback=self.fallback,
            worker_env=self.worker_env, failed=self.failed, speedups=self.speedups(),
            workers_per_variant=self.workers_per_variant,
        )
