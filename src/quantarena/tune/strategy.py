"""The search over one recipe's declared space, driven by Optuna (a maintained optimizer, not a
home-made one): multi-objective TPE on (validation top-1 drop, batch-1 latency) with the budget
as a constraint, so the sampler looks for fast candidates among those that keep accuracy.

The first trial is always the plain recipe (its defaults, enqueued), so the result says what
tuning bought. Trials already in ``tune.json`` are given back to the study on a rerun, so a
resumed search continues where it stopped and measures nothing twice; knobs the sampler proposes
again reuse the earlier measurement.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quantarena.toolchains import Recipe, parse_variant
from quantarena.tune.space import distributions, plain_point
from quantarena.tune.trials import Score, Trial

#: random trials before TPE models the results (after the plain recipe)
STARTUP_TRIALS = 3

#: measures one point of the space: (variant, recipe, trial number) -> the finished trial
Measure = Callable[[str, Recipe, int, dict[str, Any]], Trial]


@dataclass(frozen=True)
class SearchLimits:
    max_trials: int
    #: ``time.monotonic()`` after which no new trial starts
    deadline: float
    max_drop_pp: float
    seed: int


def _values(score: Score, timed: bool) -> list[float]:
    values = [score.drop_pp]
    if timed:
        assert score.latency_p50_ms is not None
        values.append(score.latency_p50_ms)
    return values


def _timed(trial: Trial) -> bool:
    return trial.validation is not None and trial.validation.latency_p50_ms is not None


def search(
    variant: str,
    calibration_images: int,
    earlier: list[Trial],
    limits: SearchLimits,
    measure: Measure,
    record: Callable[[Trial], None],
    next_number: Callable[[], int],
) -> str:
    """Run trials of ``variant`` until its trial or time budget is spent (``earlier`` count
    towards the trial budget); each finished trial goes to ``record`` at once, numbered by
    ``next_number`` (unique within the variant, fallback trials included). Returns why the
    search stopped."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    toolchain, name = parse_variant(variant)
    cls = toolchain.recipes[name]
    space = cls.search_space
    dists = distributions(space, calibration_images)
    timed = cls.speed_unavailable is None
    study = optuna.create_study(
        directions=["minimize", "minimize"] if timed else ["minimize"],
        sampler=optuna.samplers.TPESampler(seed=limits.seed, n_startup_trials=STARTUP_TRIALS),
    )
    trials = list(earlier)
    for old in earlier:
        try:
            if old.validation is not None and (_timed(old) or not timed):
                study.add_trial(create_trial(
                    params=old.params, distributions=dists,
                    values=_values(old.validation, timed),
                    constraints={"drop": old.validation.drop_pp - limits.max_drop_pp},
                ))
            else:
                study.add_trial(create_trial(
                    params=old.params, distributions=dists, state=TrialState.FAIL,
                ))
        except ValueError:
            continue  # measured under another declared space: kept in tune.json, not told
    if not earlier:
        defaults = {k: cls.model_fields[k].default for k in dists}
        study.enqueue_trial(plain_point(space, defaults, calibration_images))
    while len(trials) < limits.max_trials:
        if time.monotonic() >= limits.deadline:
            return f"time budget spent after {len(trials)} trial(s)"
        asked = study.ask(dists)
        number = next_number()
        same = next((t for t in trials if t.params == asked.params and t.reused_from is None),
                    None)
        if same is not None:
            trial = same.model_copy(update={
                "number": number, "reused_from": same.number, "seconds": 0.0,
            })
        else:
            recipe = toolchain.parse_recipe(name, asked.params)
            trial = measure(variant, recipe, number, asked.params)
        if trial.validation is not None and (_timed(trial) or not timed):
            asked.set_constraint("drop", trial.validation.drop_pp - limits.max_drop_pp)
            study.tell(asked, _values(trial.validation, timed))
        else:
            study.tell(asked, state=TrialState.FAIL)
        trials.append(trial)
        record(trial)
    return f"trial budget of {limits.max_trials} reached"
