"""Mixed-precision fallback: when no point of a recipe's space meets the budget, keep its most
damaging layers in floating point (ranked by ``sensitivity``), 1, 2, 4, 8 ... of them, each a
real trial built and measured like every other, until the validation drop is within budget or
time runs out. Every layer kept costs speed, so the smallest set that passes is what is wanted;
the trials with fewer layers stay in ``tune.json`` to show what each step bought and cost.

Starts from the closest trial of the search (its knobs unchanged) — the accuracy NNCF's accuracy
control gets back by reverting layers one at a time, found here in a few doublings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from quantarena.runner.plan import variant_slug
from quantarena.toolchains import Recipe, parse_variant
from quantarena.tune import select
from quantarena.tune.measure import CandidateMeter
from quantarena.tune.sensitivity import (
    SENSITIVITY_IMAGES,
    Sensitivity,
    SensitivityJob,
    measure_sensitivity,
)
from quantarena.tune.trials import Trial, TuneRecord, save_record

#: how many of the ranked layers each fallback trial keeps in floating point
STEPS = (1, 2, 4, 8, 16, 32)

Measure = Callable[[str, Recipe, int, dict[str, Any]], Trial]


def needs_fallback(variant: str, trials: list[Trial], max_drop_pp: float) -> Trial | None:
    """The trial to fall back from (the closest one of the search, not an earlier fallback
    trial) when the recipe can keep layers in FP32 and no trial meets the budget; else
    ``None``."""
    toolchain, name = parse_variant(variant)
    knob = toolchain.recipes[name].layer_knob
    if knob is None:
        return None
    if select.fastest_accepted(trials, max_drop_pp) is not None:
        return None
    return select.closest([t for t in trials if knob not in t.params])


def fallback_points(base: Trial, knob: str, ranking: list[str]) -> list[dict[str, Any]]:
    """The knobs of each fallback trial: the base trial's, with the top-k layers kept."""
    steps = [k for k in STEPS if k < len(ranking)] + [len(ranking)]
    return [{**base.params, knob: list(ranking[:k])} for k in dict.fromkeys(steps) if k > 0]


def run_fallback(
    variant: str,
    base: Trial,
    sensitivity: Sensitivity,
    trials: list[Trial],
    *,
    max_drop_pp: float,
    deadline: float,
    measure: Measure,
    record: Callable[[Trial], None],
) -> str:
    """Fallback trials in order until one is accepted; points measured before (a rerun) are
    not measured again. Returns what happened, for ``tune.json``'s ``stopped``."""
    toolchain, name = parse_variant(variant)
    knob = toolchain.recipes[name].layer_knob
    assert knob is not None
    for params in fallback_points(base, knob, sensitivity.ranked()):
        done = next((t for t in trials if t.params == params), None)
        if done is None:
            if time.monotonic() >= deadline:
                return "fallback stopped by the time budget"
            done = measure(variant, toolchain.parse_recipe(name, params), len(trials), params)
            trials.append(done)
            record(done)
        if select.accepted(done, max_drop_pp):
            return f"fallback met the budget with {len(params[knob])} layer(s) in FP32"
    return "fallback kept every layer it ranked in FP32 and still missed the budget"


def layer_ranking(record: TuneRecord, variant: str, base: Trial, meter: CandidateMeter,
                  out: Path, validation: Path) -> Sensitivity:
    """The layer ranking of ``base``'s recipe: from ``tune.json`` when measured before with the
    same knobs, else measured now (one build per layer, in a worker)."""
    toolchain, name = parse_variant(variant)
    recipe = toolchain.parse_recipe(name, base.params)
    earlier = record.sensitivity.get(variant)
    if earlier is not None and earlier.knobs == recipe.model_dump(mode="json"):
        return earlier
    layers = len(type(recipe).layers(meter.bundle))
    tqdm.write(f"  {variant}: no trial meets the budget; ranking its {layers} layers by the "
               f"damage their quantization does (trial #{base.number}'s knobs) ...")
    folder = out / "sensitivity" / variant_slug(variant)
    job = SensitivityJob(
        recipe=recipe.to_payload(variant), bundle=meter.bundle_file,
        calibration=meter.calibration, validation=validation,
        images=min(SENSITIVITY_IMAGES, record.splits.validation_images),
        threads=meter.config.threads, workdir=folder / "work",
    )
    ranking = measure_sensitivity(job, meter.config, folder)
    record.sensitivity[variant] = ranking
    save_record(record, out)
    return ranking
