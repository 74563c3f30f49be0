"""The machine's state per round: the reference workload, /proc/stat, other processes' CPU and the
slowdown note."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from quantarena.measure.machine_state import (
    MachineRecorder,
    MachineSample,
    MachineTrace,
    own_tree_cpu_seconds,
    parse_proc_stat,
    read_proc_stat,
    reference_workload,
)
from quantarena.results.measurements import Unavailable

STAT = """\
cpu  973613 280 135827 741174 5121 120 445 1174 300 0
cpu0 386619 183 52493 487078 1067 60 100 558 150 0
cpu1 586993 97 83334 254095 4053 60 345 615 150 0
intr 123456 0 0
ctxt 987654
btime 1700000000
"""
#: A busy loop that ends by itself, so a failed test cannot leave it spinning.
BUSY = (
    "import os, sys, time\n"
    "if len(sys.argv) > 1: os.sched_setaffinity(0, {int(sys.argv[1])})\n"
    "print('ready', flush=True)\n"
    "end = time.monotonic() + 20\n"
    "while time.monotonic() < end: pass\n"
)
HAS_PROC_STAT = Path("/proc/stat").exists()


@contextmanager
def _busy(*args: str) -> Iterator[None]:
    """A busy child process (pinned to the CPU in ``args`` if given), spinning while inside."""
    with subprocess.Popen(
        [sys.executable, "-c", BUSY, *args], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            yield
        finally:
            child.kill()


def test_proc_stat_is_parsed_into_busy_steal_and_cpus() -> None:
    ticks = parse_proc_stat(STAT)
    assert ticks.busy == 973613 + 280 + 135827 + 120 + 445  # guest (300) is inside user already
    assert ticks.steal == 1174 and ticks.cpus == 2
    old_kernel = parse_proc_stat("cpu  10 2 3 40\ncpu0 10 2 3 40\n")
    assert (old_kernel.busy, old_kernel.steal, old_kernel.cpus) == (15, 0, 1)
    with pytest.raises(ValueError, match="cpu"):
        parse_proc_stat("intr 1 2 3\n")


def test_an_unreadable_proc_stat_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    missing = read_proc_stat(tmp_path / "stat")
    assert isinstance(missing, Unavailable) and "cannot read" in missing.reason
    (tmp_path / "stat").write_text("garbage\n")
    assert isinstance(read_proc_stat(tmp_path / "stat"), Unavailable)
    recorder = MachineRecorder(proc_stat=tmp_path / "absent")
    recorder.begin_round()
    sample = recorder.end_round(0)
    assert sample.unavailable is not None and "absent" in sample.unavailable.reason
    assert sample.steal_s is None and sample.others_cpu_s is None
    assert sample.steal_fraction() is None and sample.reference_s > 0


def test_a_round_counts_steal_and_other_processes_from_the_stat_deltas(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    recorder = MachineRecorder(proc_stat=stat)
    recorder.begin_round()
    tick = os.sysconf("SC_CLK_TCK")
    # 2 s of machine busy time (user), 0.5 s of steal, over the round
    stat.write_text(STAT.replace("cpu  973613", f"cpu  {973613 + 2 * tick}").replace(
        " 1174 ", f" {1174 + tick // 2} "))
    sample = recorder.end_round(3)
    assert sample.round == 3 and sample.cores == 2
    assert sample.busy_s == pytest.approx(2.0)
    assert sample.steal_s == pytest.approx(0.5)
    assert sample.own_cpu_s is not None and 0.0 <= sample.own_cpu_s < 0.5
    assert sample.others_cpu_s == pytest.approx(2.0 - sample.own_cpu_s)
    assert sample.steal_fraction() == pytest.approx(0.5 / (sample.interval_s * 2))


def test_the_reference_workload_returns_a_plausible_time() -> None:
    times = [reference_workload() for _ in range(3)]
    assert all(0.001 < t < 5.0 for t in times)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_the_reference_workload_slows_when_a_busy_process_shares_its_cpu() -> None:
    """Pinned to one CPU with a busy loop pinned to the same CPU, the fair scheduler gives each
    about half of it: about 2× slower. The best of three runs each way, compared with a wide
    margin, keeps the test steady on a shared machine."""
    original = os.sched_getaffinity(0)
    cpu = min(original)
    try:
        os.sched_setaffinity(0, {cpu})
        alone = min(reference_workload() for _ in range(3))
        with _busy(str(cpu)):
            shared = min(reference_workload() for _ in range(3))
    finally:
        os.sched_setaffinity(0, original)
    assert shared > 1.4 * alone, (alone, shared)


def test_a_busy_child_counts_as_this_process_tree() -> None:
    with _busy():
        before = own_tree_cpu_seconds()
        time.sleep(1.0)
        used = own_tree_cpu_seconds() - before
    assert used >= 0.3  # the child spun for most of the second; this process slept


@pytest.mark.skipif(not HAS_PROC_STAT, reason="needs /proc/stat (Linux)")
def test_a_busy_process_outside_the_tree_counts_as_other_processes() -> None:
    """A busy loop orphaned by its shell belongs to init, not to this process tree."""
    launcher = subprocess.run(
        ["sh", "-c", '"$0" -c "$1" >/dev/null 2>&1 & echo $!', sys.executable, BUSY],
        capture_output=True, text=True, check=True,
    )
    pid = int(launcher.stdout.strip())
    try:
        time.sleep(0.3)  # let it start spinning
        recorder = MachineRecorder()
        recorder.begin_round()
        time.sleep(1.0)
        sample = recorder.end_round(0)
    finally:
        os.kill(pid, 9)
    assert sample.others_cpu_s is not None and sample.others_cpu_s >= 0.3, sample
    assert sample.own_cpu_s is not None and sample.own_cpu_s < 0.3, sample


def _sample(index: int, reference_ms: float, steal: float = 0.0, others: float = 0.0) -> (
    MachineSample
):
    return MachineSample(
        round=index, offset_s=60.0 * index, interval_s=60.0, reference_s=reference_ms / 1e3,
        cores=2, busy_s=others * 120, steal_s=steal * 120, own_cpu_s=0.0, others_cpu_s=others * 120,
    )


def test_a_steady_machine_earns_no_note() -> None:
    trace = MachineTrace(samples=[_sample(i, ms) for i, ms in enumerate([21, 22, 23, 21.5])])
    summary = trace.summary()
    assert summary.note is None and trace.row_notes() == []
    assert summary.fastest_reference_s == pytest.approx(0.021)
    assert summary.slowest_relative == pytest.approx(23 / 21)
    assert summary.max_steal_fraction == 0.0


def test_a_slow_stretch_is_named_with_its_steal_and_other_processes() -> None:
    trace = MachineTrace(samples=[
        _sample(0, 21), _sample(1, 22), _sample(2, 40, steal=0.12, others=0.3), _sample(3, 21.5),
    ])
    summary = trace.summary()
    assert summary.relative[2] == pytest.approx(40 / 21)
    assert summary.max_steal_fraction == pytest.approx(0.12)
    assert summary.note == (
        "the machine ran 1.9× slower between 2 min and 3 min (reference workload 40 ms vs "
        "21 ms); steal 12%, other processes 30% of the CPU"
    )
    assert trace.row_notes() == [summary.note]
    assert MachineTrace.model_validate_json(trace.model_dump_json()) == trace


def test_the_note_spans_consecutive_slow_rounds_and_counts_the_others() -> None:
    samples = [_sample(0, 20), _sample(1, 30), _sample(2, 50), _sample(3, 20), _sample(4, 26)]
    note = MachineTrace(samples=samples).summary().note
    assert note is not None
    assert note.startswith("the machine ran 2.5× slower between 1 min and 3 min (reference")
    assert note.endswith("(3 rounds in all ran more than 20% slower)")


def test_unavailable_cpu_counts_leave_the_note_without_causes() -> None:
    why = Unavailable(reason="cannot read /proc/stat")
    samples = [
        MachineSample(round=i, offset_s=5.0 * i, interval_s=5.0, reference_s=ms / 1e3, cores=2,
                      unavailable=why)
        for i, ms in enumerate([20, 20, 30])
    ]
    summary = MachineTrace(samples=samples).summary()
    assert summary.max_steal_fraction is None and summary.max_others_fraction is None
    assert summary.note == (
        "the machine ran 1.5× slower between 10 s and 15 s (reference workload 30 ms vs 20 ms)"
    )
    with pytest.raises(ValueError):
        MachineTrace().summary()
