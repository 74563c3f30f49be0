"""Choosing from the trials: the acceptance rule, the fastest accepted candidate per toolchain
and overall, and the accuracy/latency Pareto set. Reads validation scores only: these functions
never receive an evaluation figure, so no choice can depend on one.

Unlike a tuner that stops at the first passing model, every trial is kept and the *fastest*
accepted one wins; where nothing passes, the closest candidate is shown as missing the budget,
never passed off as meeting it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quantarena.tune.trials import Trial

ACCEPTANCE_RULE = (
    "a candidate is accepted when its top-1 drop on the validation split (FP32 reference top-1 "
    "minus candidate top-1, point estimate, same images) is at most the budget; among accepted "
    "candidates the one with the lowest batch-1 median latency wins, except that candidates "
    "whose latency CI overlaps the fastest one's count as equally fast and the most accurate "
    "of them wins. The evaluation split is "
    "measured once, for the chosen candidates only, and its drop with its 95% CI is reported, "
    "never used to choose."
)


def measured(trials: list[Trial]) -> list[Trial]:
    """Trials with a validation score, each measurement once (a repeat of the same knobs reuses
    an earlier trial's measurement and is not counted twice)."""
    return [t for t in trials if t.validation is not None and t.reused_from is None]


def accepted(trial: Trial, max_drop_pp: float) -> bool:
    """The acceptance rule (``ACCEPTANCE_RULE``), on the validation split."""
    return trial.validation is not None and trial.validation.drop_pp <= max_drop_pp


def _latency(trial: Trial) -> float | None:
    return trial.validation.latency_p50_ms if trial.validation is not None else None


def fastest_accepted(trials: list[Trial], max_drop_pp: float) -> Trial | None:
    """The accepted trial with the lowest latency, where candidates whose 95% CIs of the median
    overlap the fastest one's are a tie won by the smaller drop (two builds of one graph differ
    in speed by noise only, and then accuracy is what tells them apart); among trials that
    measure no speed (a GPU graph simulated on the CPU), the accepted one with the smallest
    drop."""
    passing = [t for t in measured(trials) if accepted(t, max_drop_pp)]
    timed = [t for t in passing if _latency(t) is not None]
    if not timed:
        return min(passing, key=lambda t: (_drop(t), t.number)) if passing else None
    fastest = min(timed, key=lambda t: (_ms(t), _drop(t), t.number))
    ceiling = _ci(fastest)[1]
    tied = [t for t in timed if _ci(t)[0] <= ceiling]
    return min(tied, key=lambda t: (_drop(t), _ms(t), t.number))


def _ci(trial: Trial) -> tuple[float, float]:
    """The 95% CI of the trial's median latency (the median itself when none was kept)."""
    assert trial.validation is not None
    ci = trial.validation.latency_p50_ci95_ms
    return (ci[0], ci[1]) if ci else (_ms(trial), _ms(trial))


def closest(trials: list[Trial]) -> Trial | None:
    """The trial with the smallest validation drop (shown when none meets the budget)."""
    scored = measured(trials)
    return min(scored, key=lambda t: (_drop(t), t.number)) if scored else None


def _drop(trial: Trial) -> float:
    assert trial.validation is not None
    return trial.validation.drop_pp


def pareto(trials: list[Trial]) -> list[Trial]:
    """Trials no other trial beats on both validation drop and latency (ties kept), by latency."""
    timed = [t for t in measured(trials) if _latency(t) is not None]
    front = [
        t
        for t in timed
        if not any(
            _drop(o) <= _drop(t) and _ms(o) <= _ms(t) and (_drop(o) < _drop(t) or _ms(o) < _ms(t))
            for o in timed
        )
    ]
    return sorted(front, key=lambda t: (_ms(t), _drop(t)))


def _ms(trial: Trial) -> float:
    value = _latency(trial)
    assert value is not None
    return value


@dataclass(frozen=True)
class Choice:
    """One candidate for the final table and why it is there."""

    trial: Trial
    role: str
    meets_budget: bool


def choose(
    trials: list[Trial], max_drop_pp: float, toolchain_of: Callable[[str], str]
) -> tuple[list[Choice], Choice | None]:
    """Per toolchain the fastest accepted trial (or, when none is accepted, the closest one,
    marked as missing the budget); overall the fastest accepted timed one among them."""
    choices = []
    for toolchain in dict.fromkeys(toolchain_of(t.variant) for t in trials):
        own = [t for t in trials if toolchain_of(t.variant) == toolchain]
        best = fastest_accepted(own, max_drop_pp)
        if best is not None:
            choices.append(Choice(best, f"fastest within the budget on {toolchain}", True))
            continue
        near = closest(own)
        if near is not None:
            choices.append(Choice(near, f"closest to the budget on {toolchain} (misses it)", False))
    timed = [c for c in choices if c.meets_budget and _latency(c.trial) is not None]
    overall = min(timed, key=lambda c: _ms(c.trial)) if timed else None
    return choices, overall
