"""Choosing from trials: the acceptance rule on the validation drop, the fastest accepted (speed
ties broken by accuracy), the closest when nothing passes (marked as missing), the Pareto set,
the overall winner among timed toolchains only; and that choices read validation scores alone."""

from __future__ import annotations

import inspect

from quantarena.tune import select
from quantarena.tune.trials import Score, Trial


def _trial(variant: str, number: int, drop: float, ms: float | None, *,
           ci: float = 0.01, reused: int | None = None) -> Trial:
    score = Score(
        images=100, top1=0.7 - drop / 100, drop_pp=drop, drop_ci95_pp=[drop - 1, drop + 1],
        mcnemar_p=0.5, latency_p50_ms=ms,
        latency_p50_ci95_ms=None if ms is None else [ms - ci, ms + ci],
    )
    return Trial(variant=variant, number=number, params={"n": number}, status="ok",
                 folder=f"trials/{number}", seconds=1.0, validation=score, reused_from=reused)


def _failed(variant: str, number: int) -> Trial:
    return Trial(variant=variant, number=number, params={"n": number}, status="failed",
                 reason="build: boom", folder=f"trials/{number}", seconds=1.0)


def test_acceptance_is_the_validation_drop_against_the_budget() -> None:
    assert select.accepted(_trial("a:x", 0, 0.5, 1.0), 0.5)
    assert not select.accepted(_trial("a:x", 0, 0.51, 1.0), 0.5)
    assert select.accepted(_trial("a:x", 0, -0.3, 1.0), 0.0)  # better than FP32 passes
    assert not select.accepted(_failed("a:x", 0), 10.0)


def test_the_fastest_accepted_wins_not_the_first_passing() -> None:
    trials = [_trial("a:x", 0, 0.2, 3.0), _trial("a:x", 1, 0.9, 1.0), _trial("a:x", 2, 0.4, 2.0),
              _failed("a:x", 3)]
    best = select.fastest_accepted(trials, 0.5)
    assert best is not None and best.number == 2


def test_speeds_within_each_others_ci_are_a_tie_won_by_accuracy() -> None:
    trials = [_trial("a:x", 0, 0.4, 1.00, ci=0.05), _trial("a:x", 1, 0.1, 1.04, ci=0.05),
              _trial("a:x", 2, 0.0, 1.50, ci=0.05)]
    best = select.fastest_accepted(trials, 0.5)
    assert best is not None and best.number == 1  # 1.04 overlaps 1.00; 1.50 does not


def test_without_speed_the_smallest_accepted_drop_wins() -> None:
    trials = [_trial("t:sim", 0, 0.3, None), _trial("t:sim", 1, 0.1, None)]
    best = select.fastest_accepted(trials, 0.5)
    assert best is not None and best.number == 1


def test_a_repeated_point_counts_once() -> None:
    original = _trial("a:x", 0, 0.1, 1.0)
    again = original.model_copy(update={"number": 1, "reused_from": 0})
    assert [t.number for t in select.measured([original, again])] == [0]
    assert [t.number for t in select.pareto([original, again])] == [0]


def test_pareto_keeps_only_undominated_trials_by_latency() -> None:
    trials = [_trial("a:x", 0, 0.1, 3.0), _trial("a:x", 1, 0.5, 1.0), _trial("a:x", 2, 0.6, 2.0),
              _trial("a:x", 3, 0.3, 2.0), _trial("b:y", 4, 0.0, None)]
    assert [t.number for t in select.pareto(trials)] == [1, 3, 0]


def test_choose_per_toolchain_and_overall_with_honest_misses() -> None:
    trials = [
        _trial("ort:int8", 0, 0.3, 1.2), _trial("ort:int8", 1, 0.1, 2.0),
        _trial("ov:int8", 0, 0.2, 0.9),
        _trial("pt:pt2e", 0, 2.5, 0.5), _trial("pt:pt2e", 1, 1.5, 0.6),
        _trial("trt:sim", 0, 0.1, None),
    ]
    choices, overall = select.choose(trials, 0.5, lambda v: v.split(":")[0])
    by_toolchain = {c.trial.variant.split(":")[0]: c for c in choices}
    assert by_toolchain["ort"].trial.number == 0 and by_toolchain["ort"].meets_budget
    pt = by_toolchain["pt"]
    assert not pt.meets_budget and pt.trial.number == 1 and "misses" in pt.role
    assert by_toolchain["trt"].meets_budget
    # pt2e is the fastest model but misses the budget; trt has no speed: ov wins overall
    assert overall is not None and overall.trial.variant == "ov:int8"


def test_no_candidate_meets_the_budget_means_no_overall_winner() -> None:
    choices, overall = select.choose([_trial("a:x", 0, 2.0, 1.0)], 0.5, lambda v: "a")
    assert overall is None and [c.meets_budget for c in choices] == [False]


def test_choices_never_receive_evaluation_figures() -> None:
    """A trial holds validation scores only; finals (with evaluation) are made after choosing,
    and no selection function takes one."""
    assert "evaluation" not in Trial.model_fields
    for function in (select.choose, select.fastest_accepted, select.pareto, select.closest):
        assert all("final" not in name and "evaluation" not in name
                   for name in inspect.signature(function).parameters)
