"""What the machine was doing in each round of an interleaved timing run, so that a round timed on
a slowed machine can be told from a slow variant: a fixed reference workload's time, the
hypervisor's steal time, and the CPU other processes used.

The reference workload is NumPy element-wise float32 arithmetic (multiply, then add) over three
fixed 1 MiB arrays, repeated a fixed number of times (about 70 ms on a 2-core AMD EPYC). Why:

- single-threaded by construction: NumPy's element-wise loops never start threads, whereas a
  matmul goes to BLAS, which may or may not use threads depending on the BLAS, the matrix size
  and environment variables, so "the same workload" would not mean the same thing everywhere;
- it exercises what inference exercises: SIMD arithmetic streaming through caches (3 MiB, more
  than a core's L2 here), so a neighbour that contends for cache or memory bandwidth shows up,
  which a pure-Python loop (interpreter-bound, a few KiB of data) would not reveal;
- deterministic: fixed sizes, fixed values, fixed repeat count; it is never calibrated to the
  machine, so its times compare across rounds of a run and across runs with the same NumPy.

Steal and busy time come from ``/proc/stat`` (Linux); where it cannot be read, the sample carries
an ``Unavailable`` reason instead of numbers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from quantarena.durations import spoken
from quantarena.results.measurements import Block, Unavailable

PROC_STAT = Path("/proc/stat")
#: Elements of each reference array (float32: 1 MiB each) and the fixed number of repeats.
REFERENCE_ELEMENTS = 1 << 18
REFERENCE_REPEATS = 1200
#: A round whose reference workload ran this much slower than the run's fastest earns a note.
SLOWDOWN_NOTE = 1.2


def reference_workload() -> float:
    """Seconds (perf_counter) of the fixed reference workload; the arrays are made and touched
    before the clock starts, so page faults are not timed."""
    a = np.linspace(0.5, 1.5, REFERENCE_ELEMENTS, dtype=np.float32)
    b = np.ascontiguousarray(a[::-1])
    c = np.ones_like(a)  # written now, so its pages exist before timing
    start = time.perf_counter()
    for _ in range(REFERENCE_REPEATS):
        np.multiply(a, b, out=c)
        np.add(c, a, out=c)
    return time.perf_counter() - start


@dataclass(frozen=True)
class CpuTicks:
    """The aggregate ``cpu`` line of ``/proc/stat`` in clock ticks. ``busy`` is user + nice +
    system + irq + softirq: the time this (virtual) machine's CPUs ran anything. guest/guest_nice
    are already inside user/nice and are not added again; steal (the hypervisor running someone
    else while we wanted a CPU) is kept apart, since no process of this machine used it."""

    busy: int
    steal: int
    cpus: int  # the number of ``cpuN`` lines, what the aggregate line sums over


def parse_proc_stat(text: str) -> CpuTicks:
    """The ``cpu`` line of a ``/proc/stat`` text (fields: user nice system idle iowait irq
    softirq steal guest guest_nice; old kernels stop after fewer, missing ones count as 0)."""
    aggregate: list[int] | None = None
    cpus = 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if name == "cpu":
            aggregate = [int(v) for v in rest.split()]
        elif name.startswith("cpu") and name[3:].isdigit():
            cpus += 1
    if aggregate is None or len(aggregate) < 4:
        raise ValueError("no aggregate 'cpu' line in /proc/stat")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (aggregate + [0] * 8)[:8]
    return CpuTicks(busy=user + nice + system + irq + softirq, steal=steal, cpus=max(cpus, 1))


def read_proc_stat(path: Path = PROC_STAT) -> CpuTicks | Unavailable:
    """``/proc/stat`` now, or why it cannot be read (not Linux, a sandbox hiding /proc ...)."""
    try:
        return parse_proc_stat(path.read_text())
    except (OSError, ValueError) as exc:
        return Unavailable(reason=f"cannot read {path}: {exc}")


def own_tree_cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live descendants, each with the CPU of
    the children it has reaped. Summing a snapshot of the tree this way stays consistent when a
    descendant exits and is waited for mid-window: its time moves into its parent's reaped-children
    count rather than vanishing. Not included: descendants orphaned to init (they count as other
    processes) and time a descendant spent before it was started by this tree (none)."""
    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:  # exited between the listing and the read
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


class MachineSample(Block):
    """One round's view of the machine. ``busy_s`` is the whole machine's CPU time over the
    round's interval (all CPUs, steal excluded), ``own_cpu_s`` this process tree's share of it,
    and ``others_cpu_s`` the rest: other users' processes, kernel threads, interrupts, and any
    orphaned descendants; it is floored at 0 (both counts tick at 1/``SC_CLK_TCK`` s). With
    ``/proc/stat`` unreadable these are None and ``unavailable`` says why."""

    round: int
    offset_s: float  # wall-clock time from the start of the run to the start of the round
    interval_s: float  # the round's length, over which steal and CPU use are counted
    reference_s: float  # the reference workload's time, run right after the round
    cores: int
    busy_s: float | None = None
    steal_s: float | None = None
    own_cpu_s: float | None = None
    others_cpu_s: float | None = None
    unavailable: Unavailable | None = None

    def steal_fraction(self) -> float | None:
        """Steal as a share of the machine's CPU capacity over the interval."""
        return _share(self.steal_s, self.interval_s, self.cores)

    def others_fraction(self) -> float | None:
        """Other processes' CPU as a share of the machine's capacity over the interval."""
        return _share(self.others_cpu_s, self.interval_s, self.cores)


def _share(seconds: float | None, interval_s: float, cores: int) -> float | None:
    if seconds is None:
        return None
    return seconds / max(interval_s * cores, 1e-9)


class MachineRecorder:
    """Made at the start of a run; ``begin_round()`` before a round's timings, ``end_round(i)``
    after them. The reference workload runs after the interval closes, so its own CPU is not
    counted and it never runs while a variant is timed."""

    def __init__(self, proc_stat: Path = PROC_STAT) -> None:
        self._path = proc_stat
        self._clock_tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._run_start = time.perf_counter()
        self._start = self._run_start
        self._ticks: CpuTicks | Unavailable = Unavailable(reason="begin_round() was not called")
        self._own = 0.0

    def begin_round(self) -> None:
        self._own = own_tree_cpu_seconds()
        self._ticks = read_proc_stat(self._path)
        self._start = time.perf_counter()

    def end_round(self, round_index: int) -> MachineSample:
        interval = time.perf_counter() - self._start
        ticks = read_proc_stat(self._path)
        own = own_tree_cpu_seconds() - self._own
        sample = MachineSample(
            round=round_index,
            offset_s=self._start - self._run_start,
            interval_s=interval,
            reference_s=reference_workload(),
            cores=psutil.cpu_count(logical=True) or 1,
        )
        before = self._ticks
        if isinstance(before, Unavailable) or isinstance(ticks, Unavailable):
            why = before if isinstance(before, Unavailable) else ticks
            return sample.model_copy(update={"unavailable": why})
        tick = float(self._clock_tick)
        busy = (ticks.busy - before.busy) / tick
        return sample.model_copy(update={
            "cores": ticks.cpus,
            "busy_s": busy,
            "steal_s": (ticks.steal - before.steal) / tick,
            "own_cpu_s": own,
            "others_cpu_s": max(0.0, busy - own),
        })


class MachineSummary(Block):
    """How far the machine's speed moved over a run: each round's reference workload time
    relative to the run's fastest, the largest steal and other-process shares, and the note."""

    fastest_reference_s: float
    relative: list[float]  # per sample, reference_s / fastest_reference_s
    slowest_relative: float
    max_steal_fraction: float | None
    max_others_fraction: float | None
    note: str | None


class MachineTrace(Block):
    """Every round's ``MachineSample``, in order."""

    samples: list[MachineSample] = []

    def summary(self, threshold: float = SLOWDOWN_NOTE) -> MachineSummary:
        """The slowdown summary; ``note`` is set when some round's reference workload ran more
        than ``threshold`` times slower than the fastest round's."""
        if not self.samples:
            raise ValueError("no machine samples to summarize")
        fastest = min(s.reference_s for s in self.samples)
        relative = [s.reference_s / fastest for s in self.samples]
        return MachineSummary(
            fastest_reference_s=fastest,
            relative=relative,
            slowest_relative=max(relative),
            max_steal_fraction=_max(s.steal_fraction() for s in self.samples),
            max_others_fraction=_max(s.others_fraction() for s in self.samples),
            note=self._note(relative, fastest, threshold),
        )

    def row_notes(self) -> list[str]:
        note = self.summary().note if self.samples else None
        return [note] if note else []

    def _note(self, relative: list[float], fastest: float, threshold: float) -> str | None:
        """The contiguous stretch of slow rounds around the slowest one, with its steal and
        other-process shares (the usual suspects), and how many slow rounds there were in all."""
        worst = max(range(len(relative)), key=relative.__getitem__)
        if relative[worst] <= threshold:
            return None
        first = last = worst
        while first > 0 and relative[first - 1] > threshold:
            first -= 1
        while last + 1 < len(relative) and relative[last + 1] > threshold:
            last += 1
        span = self.samples[first : last + 1]
        end = span[-1].offset_s + span[-1].interval_s
        note = (
            f"the machine ran {relative[worst]:.1f}× slower between {spoken(span[0].offset_s)} "
            f"and {spoken(end)} (reference workload {self.samples[worst].reference_s * 1e3:.0f} "
            f"ms vs {fastest * 1e3:.0f} ms)"
        )
        causes = []
        steal = _max(s.steal_fraction() for s in span)
        others = _max(s.others_fraction() for s in span)
        if steal is not None:
            causes.append(f"steal {steal * 100:.0f}%")
        if others is not None:
            causes.append(f"other processes {others * 100:.0f}% of the CPU")
        if causes:
            note += "; " + ", ".join(causes)
        slow = sum(r > threshold for r in relative)
        if slow > len(span):
            note += f" ({slow} rounds in all ran more than {(threshold - 1) * 100:.0f}% slower)"
        return note


def _max(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None

