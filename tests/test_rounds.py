"""The interleaved rounds without a runtime: stand-in workers whose times follow a machine whose
speed changes from round to round. Shuffled and seeded orders, the three ways rounds stop, a
window under heavy interference re-measured later, spinning waiting workers, the pause that
waits for a worker's spinning to end, a worker that dies, a stop signal, and the memory rule that
chooses between loaded workers and one per window."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable

import pytest

from quantarena.measure.machine_state import MachineRecorder, MachineSample
from quantarena.results.interleaved import Interleaved
from quantarena.results.measurements import Contention
from quantarena.runner.interleave import FreshWorker, TakingTurns, memory_fallback
from quantarena.runner.interrupt import RunInterrupted, Stop
from quantarena.runner.rounds import UNEVEN_INTERFERENCE_POINTS, Rounds, RoundSettings
from quantarena.runner.timing_client import TimingFailed
from quantarena.runner.timing_protocol import TimeRequest, WindowReply

REQUEST = TimeRequest(min_seconds=0.1, min_calls=3)


class Machine:
    """Shared state of the stand-ins: the round being timed and the machine's slowdown in it."""

    def __init__(self, slowdown: Callable[[int], float] = lambda r: 1.0) -> None:
        self.round = 0
        self.slowdown = slowdown
        self.timed: list[str] = []


class FakeWorker:
    """Times ``ms`` × the machine's slowdown (× ``noise(round)``); can spin while waiting, or
    fail in one round."""

    def __init__(self, name: str, ms: float, machine: Machine, *, spin_s: float = 0.0,
                 fail_in: int | None = None,
                 noise: Callable[[int], float] = lambda r: 1.0) -> None:
        self.name, self.ms, self.machine = name, ms, machine
        self.spin_s, self.fail_in, self.noise = spin_s, fail_in, noise
        self.cpu = 0.0
        self.closed = False

    def before_window(self) -> None:
        pass

    def window(self, request: TimeRequest) -> WindowReply:
        r = self.machine.round
        if r == self.fail_in:
            raise TimingFailed("worker exited with code 1: boom")
        self.machine.timed.append(self.name)
        ms = self.ms * self.machine.slowdown(r) * self.noise(r)
        return WindowReply(median_ms=ms, calls=request.min_calls, seconds=0.1, cpu_s=0.1)

    def after_window(self) -> None:
        pass

    def cpu_seconds(self) -> float:
        self.cpu += self.spin_s  # each read while another is timed: CPU burned meanwhile
        return self.cpu

    def close(self) -> None:
        self.closed = True


class FakeRecorder(MachineRecorder):
    """No reference workload (it would cost CPU): the round's slowdown is its time."""

    def __init__(self, machine: Machine) -> None:
        super().__init__()
        self.machine = machine

    def begin_round(self) -> None:
        pass

    def end_round(self, round_index: int) -> MachineSample:
        sample = MachineSample(round=round_index, offset_s=float(round_index), interval_s=1.0,
                               reference_s=0.07 * self.machine.slowdown(round_index), cores=2)
        self.machine.round += 1
        return sample


class FakeContention:
    """Others' CPU share per (round, variant timed); 0 unless listed."""

    cores = 2

    def __init__(self, machine: Machine, busy: dict[tuple[int, str], float]) -> None:
        self.machine, self.busy = machine, busy

    def start(self) -> None:
        pass

    def stop(self) -> Contention:
        key = (self.machine.round, self.machine.timed[-1] if self.machine.timed else "")
        return Contention(window_s=0.1, others_cpu_percent=self.busy.get(key, 0.0),
                          own_cpu_percent=50.0)


def _rounds(workers: list[FakeWorker], machine: Machine, *, busy: dict[tuple[int, str], float]
            | None = None, max_seconds: float = 1e9, max_rounds: int = 50, seed: int = 0,
            target: float = 0.03, stop: Stop | None = None,
            baselines: dict[str, str | None] | None = None) -> Rounds:
    ticks = iter(range(10**6))
    return Rounds(
        sources={w.name: w for w in workers}, reference=workers[0].name,
        baselines=baselines or {}, settings=RoundSettings(
            request=REQUEST, target_ci=target, max_seconds=max_seconds, max_rounds=max_rounds,
            seed=seed, settle_s=0.0),
        log=lambda _: None, stop=stop, recorder=FakeRecorder(machine),
        clock=lambda: float(next(ticks)),  # one "second" per reading: a round takes one
        contention=lambda: FakeContention(machine, busy or {}),
    )


def _three(machine: Machine, **extra: object) -> list[FakeWorker]:
    return [FakeWorker("ref", 10.0, machine, **extra),  # type: ignore[arg-type]
            FakeWorker("fast", 5.0, machine, **extra),  # type: ignore[arg-type]
            FakeWorker("slow", 12.5, machine, **extra)]  # type: ignore[arg-type]


def _wobble(r: int) -> float:
    return 1.0 + 0.3 * math.sin(r * 1.7)


def test_a_machine_that_slows_down_cancels_out_and_the_rounds_converge() -> None:
    machine = Machine(slowdown=lambda r: 2.0 if 2 <= r < 4 else 1.0)  # two slow rounds
    block = _rounds(_three(machine), machine).run()
    assert block.stop_reason == "converged" and block.rounds == 5  # the rule's fewest rounds
    assert all(sorted(order) == ["fast", "ref", "slow"] for order in block.order)
    assert len({tuple(order) for order in block.order}) > 1  # shuffled per round
    assert block.medians_ms["ref"] == [10.0, 10.0, 20.0, 20.0, 10.0]
    fast = block.pair("ref", "fast")
    slow = block.pair("ref", "slow")
    assert fast is not None and fast.speedup == pytest.approx(2.0) and fast.significant
    assert slow is not None and slow.speedup == pytest.approx(0.8)
    assert [s.variant for s in block.speedups] == ["fast", "slow"]
    assert block.machine.summary().slowest_relative == pytest.approx(2.0)


def test_the_order_is_seeded() -> None:
    orders = []
    for seed in (0, 0, 1):
        machine = Machine()
        orders.append(_rounds(_three(machine), machine, seed=seed).run().order)
    assert orders[0] == orders[1] != orders[2]


def test_noisy_rounds_stop_at_the_time_cap_or_the_most_rounds() -> None:
    machine = Machine()
    workers = [FakeWorker("ref", 10.0, machine),
               FakeWorker("b", 5.0, machine, noise=lambda r: 1.0 + 0.4 * (-1) ** r)]
    block = _rounds(workers, machine, max_seconds=7.0).run()
    assert block.stop_reason == "time_cap" and block.rounds == 7
    machine = Machine()
    workers = [FakeWorker("ref", 10.0, machine),
               FakeWorker("b", 5.0, machine, noise=lambda r: 1.0 + 0.4 * (-1) ** r)]
    block = _rounds(workers, machine, max_rounds=6).run()
    assert block.stop_reason == "max_rounds" and block.rounds == 6
    assert "the most rounds allowed" in block.stop_line()


def test_a_window_hit_by_interference_is_discarded_and_timed_again() -> None:
    machine = Machine(slowdown=_wobble)
    busy = {(1, "fast"): UNEVEN_INTERFERENCE_POINTS + 30, (1, "ref"): 5.0}
    block = _rounds(_three(machine), machine, busy=busy).run()
    window = block.windows["fast"][1]
    assert window.median_ms is None and window.measured_ms == pytest.approx(5.0 * _wobble(1))
    assert window.discarded is not None and "other processes 45%" in window.discarded
    assert "vs 0% in the run's quietest round" in window.discarded
    assert block.windows["ref"][1].median_ms is not None  # 5%: within the margin
    assert block.medians_ms["fast"][1] is None
    fast = block.pair("ref", "fast")
    assert fast is not None and fast.dropped_rounds == 1 and fast.rounds == block.rounds - 1
    assert block.rounds == 6  # one more round to make up for the lost window
    assert any("discarded" in line for line in block.notes())


def test_a_load_over_some_whole_rounds_is_discarded_so_it_cannot_bend_the_speedups() -> None:
    """A busy core slows runtimes unequally (here the reference twice, the others by a fifth):
    paired rounds cannot cancel that, so the loaded rounds are left out and timed again."""
    loaded = {2, 3, 4}
    machine = Machine(slowdown=_wobble)
    workers = _three(machine)
    workers[0].noise = lambda r: 2.0 if r in loaded else 1.0
    for w in workers[1:]:
        w.noise = lambda r: 1.2 if r in loaded else 1.0
    busy = {(r, n): 50.0 for r in loaded for n in ("ref", "fast", "slow")}
    block = _rounds(workers, machine, busy=busy).run()
    assert all(block.medians_ms[n][r] is None for r in loaded for n in block.variants)
    fast = block.pair("ref", "fast")
    assert fast is not None and fast.speedup == pytest.approx(2.0)
    assert fast.dropped_rounds == len(loaded)


def test_windows_loaded_from_the_start_are_discarded_once_a_quiet_round_is_seen() -> None:
    machine = Machine()
    workers = _three(machine)
    workers[0].noise = lambda r: 2.0 if r == 0 else 1.0
    busy = {(0, n): 50.0 for n in ("ref", "fast", "slow")}
    block = _rounds(workers, machine, busy=busy).run()
    assert [block.medians_ms["ref"][0], block.windows["ref"][0].measured_ms] == [None, 20.0]
    fast = block.pair("ref", "fast")
    assert fast is not None and fast.speedup == pytest.approx(2.0)


def test_a_load_through_whole_rounds_hits_every_window_alike_and_is_kept() -> None:
    """Discarding it would leave nothing to pair; the machine trace shows it instead."""
    machine = Machine()
    busy = {(r, n): 50.0 for r in range(50) for n in ("ref", "fast", "slow")}
    block = _rounds(_three(machine), machine, busy=busy).run()
    assert block.stop_reason == "converged"
    assert all(m is not None for ms in block.medians_ms.values() for m in ms)
    assert {w.interference_percent for ws in block.windows.values() for w in ws} == {50.0}


def test_waiting_workers_that_spin_are_recorded_and_noted() -> None:
    machine = Machine()
    block = _rounds(_three(machine, spin_s=0.02), machine, max_rounds=5).run()
    # each waiting worker is read twice per other window: 0.02 s burned per window it waits
    assert all(spent == pytest.approx({"ref": 0.04, "fast": 0.04, "slow": 0.04})
               for spent in block.waiting_cpu_s)
    assert block.waiting_note() is not None and "ref" in (block.waiting_note() or "")
    # two spinning neighbours per window: 0.04 s of 0.1 s on 2 cores
    levels = [w.interference_percent for ws in block.windows.values() for w in ws]
    assert levels == pytest.approx([20.0] * len(levels))
    machine = Machine()
    quiet = _rounds(_three(machine), machine, max_rounds=5).run()
    assert quiet.waiting_note() is None


def test_a_worker_that_fails_is_left_out_of_later_rounds() -> None:
    machine = Machine(slowdown=_wobble)
    workers = _three(machine)
    workers[2].fail_in = 1
    block = _rounds(workers, machine).run()
    assert block.failed == {"slow": "worker exited with code 1: boom"} and workers[2].closed
    assert block.medians_ms["slow"][0] is not None
    assert block.medians_ms["slow"][1:] == [None] * (block.rounds - 1)
    assert all("slow" not in order for order in block.order[2:])
    assert block.stop_reason == "converged"  # on the variants still timed
    # the reference failing ends the rounds: nothing is left to pair with
    machine = Machine()
    workers = _three(machine)
    workers[0].fail_in = 2
    assert _rounds(workers, machine).run().stop_reason == "workers_failed"


def test_a_stop_signal_ends_the_rounds_and_keeps_what_was_timed() -> None:
    machine = Machine(slowdown=_wobble)
    stop = Stop()
    workers = _three(machine)
    original = workers[1].window

    def window(request: TimeRequest) -> WindowReply:
        if machine.round == 2:
            stop.signum = signal.SIGINT
        return original(request)

    workers[1].window = window  # type: ignore[method-assign]
    rounds = _rounds(workers, machine, stop=stop)
    with pytest.raises(RunInterrupted):
        rounds.run()
    assert isinstance(rounds.partial, Interleaved)
    # the third round was cut short: only the two finished ones are kept
    assert rounds.partial.stop_reason == "interrupted" and rounds.partial.rounds == 2
    assert all(len(ms) == 2 for ms in rounds.partial.medians_ms.values())
    assert all(w.round < 2 for ws in rounds.partial.windows.values() for w in ws)


def test_the_baseline_pairs_are_stored_once() -> None:
    machine = Machine()
    block = _rounds(_three(machine), machine,
                    baselines={"fast": "slow", "slow": "slow", "ref": None}).run()
    assert [(s.baseline, s.variant) for s in block.speedups] == [
        ("ref", "fast"), ("ref", "slow"), ("slow", "fast")]
    pair = block.pair("fast", "slow")  # not stored: computed from the medians
    assert pair is not None and pair.speedup == pytest.approx(0.4)
    assert block.pair("ref", "absent") is None


def test_workers_stay_loaded_only_when_they_fit_in_memory() -> None:
    assert memory_fallback([400.0, 300.0], available_mb=8000.0) is None
    why = memory_fallback([400.0, 300.0], available_mb=1000.0)
    assert why is not None and "1000 MB is available" in why and "2 loaded workers" in why


def test_a_fresh_worker_lives_for_one_window_only() -> None:
    made: list[FakeLoaded] = []

    class FakeLoaded(FakeWorker):
        started = False

        def start(self) -> None:
            self.started = True

        def wait_ready(self) -> None:
            pass

    def make() -> FakeLoaded:
        made.append(FakeLoaded("x", 1.0, Machine()))
        return made[-1]

    fresh = FreshWorker(make)  # type: ignore[arg-type]
    assert fresh.cpu_seconds() == 0.0
    with pytest.raises(TimingFailed, match="not started"):
        fresh.window(REQUEST)
    for _ in range(2):
        fresh.before_window()
        assert fresh.window(REQUEST).median_ms == 1.0
        fresh.after_window()
    assert len(made) == 2 and all(w.started and w.closed for w in made)
    assert fresh.worker is None


def test_workers_of_one_variant_take_turns_window_by_window() -> None:
    """Each round times the next process of the variant, so the rounds' spread, and the CI,
    include how much the processes differ."""
    machine = Machine()
    first = FakeWorker("ref", 10.0, machine, spin_s=0.01)
    second = FakeWorker("ref", 11.0, machine, spin_s=0.02)
    turns = TakingTurns([first, second])  # type: ignore[list-item]
    times = []
    for _ in range(4):
        turns.before_window()
        times.append(turns.window(REQUEST).median_ms)
        turns.after_window()
    assert times == [10.0, 11.0, 10.0, 11.0]
    assert turns.cpu_seconds() == pytest.approx(first.cpu + second.cpu)  # both are counted
    turns.close()
    assert first.closed and second.closed


class SpinsAfterWork(FakeWorker):
    """Burns two cores' worth of CPU for ``after_s`` real seconds after each window (a runtime's
    threads spinning after work); ``after_s=inf`` never stops."""

    def __init__(self, name: str, machine: Machine, after_s: float) -> None:
        super().__init__(name, 1.0, machine)
        self.after_s, self.ended = after_s, time.perf_counter()

    def window(self, request: TimeRequest) -> WindowReply:
        reply = super().window(request)
        self.ended = time.perf_counter()
        return reply

    def cpu_seconds(self) -> float:
        return 2.0 * min(time.perf_counter() - self.ended, self.after_s)


def _settle_seconds(worker: SpinsAfterWork, settle_s: float) -> float:
    rounds = _rounds([worker, FakeWorker("other", 1.0, worker.machine)], worker.machine)
    rounds.settings = RoundSettings(request=REQUEST, target_ci=0.03, max_seconds=1e9,
                                    max_rounds=50, seed=0, settle_s=settle_s)
    worker.window(REQUEST)
    start = time.perf_counter()
    rounds._settle(worker.name)
    return time.perf_counter() - start


def test_the_settle_lasts_while_the_worker_timed_last_spins_and_no_longer() -> None:
    """The pause before the next window ends once the worker timed last stops using CPU (never
    before), and at the cap if it never does; a quiet worker costs one poll."""
    machine = Machine()
    assert _settle_seconds(SpinsAfterWork("quiet", machine, 0.0), 2.0) < 1.0
    spinning = _settle_seconds(SpinsAfterWork("spins", machine, 0.3), 2.0)
    assert 0.3 <= spinning < 2.0
    assert _settle_seconds(SpinsAfterWork("always", machine, math.inf), 0.4) >= 0.4
