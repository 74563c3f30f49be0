"""The vendor's own accuracy restorer beside tune's fallback, on the same data.

NNCF's ``quantize_with_accuracy_control`` does for OpenVINO what the fallback does for every
toolchain: it ranks layers and reverts the most harmful to floating point until a validation drop
is within ``max_drop``. Compared on different images, the two answers would say nothing about each
other. Here the twin recipe (declared by the searched recipe's ``accuracy_control``) starts from
the same knobs as the fallback (the closest trial of the search), calibrates on the same
calibration split, validates on tune's own validation split (appended after the calibration
images, ``validation_tail`` telling the build where they start) with the same budget, and is
then measured exactly like a trial. It is a comparison, never a candidate: the choice of the final
models ignores it, and its evaluation drop is reported beside the fallback's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quantarena.errors import QuantarenaError
from quantarena.runner.plan import variant_slug
from quantarena.toolchains import Recipe, parse_variant
from quantarena.tune.measure import CandidateMeter
from quantarena.tune.trials import Score, Trial

#: where the comparison's build, measurement and logs go, under the tune run
FOLDER = "vendor-control"


def twin_of(variant: str) -> str | None:
    """``toolchain:recipe`` of the variant's accuracy-control twin, or ``None``."""
    toolchain, name = parse_variant(variant)
    twin = toolchain.recipes[name].accuracy_control
    return f"{toolchain.name}:{twin}" if twin is not None else None


def twin_params(variant: str, base: Trial, max_drop_pp: float,
                validation_images: int) -> dict[str, Any]:
    """The twin's knobs: the base trial's (those the twin has, layers kept none: the twin picks
    its own), the budget as NNCF's absolute fraction, and where tune's validation split starts."""
    twin = twin_of(variant)
    assert twin is not None
    toolchain, name = parse_variant(twin)
    fields = toolchain.recipes[name].model_fields
    layer_knob = toolchain.recipes[name].layer_knob
    params = {k: v for k, v in base.params.items() if k in fields and k != layer_knob}
    return {**params, "max_drop": max_drop_pp / 100.0, "drop_type": "absolute",
            "validation_tail": validation_images}


def run_vendor_control(
    variant: str, base: Trial, *, max_drop_pp: float, validation_images: int,
    meter: CandidateMeter, calibration_and_validation: Callable[[], Path], validation: Path,
    out: Path,
) -> Trial:
    """Build the twin on calibration + validation images and measure it on the validation split
    like any trial; a failure is kept as a failed trial with its reason, never raised."""
    twin = twin_of(variant)
    assert twin is not None
    toolchain, name = parse_variant(twin)
    params = twin_params(variant, base, max_drop_pp, validation_images)
    folder = out / FOLDER / variant_slug(variant)
    began = time.monotonic()
    try:
        recipe: Recipe = toolchain.parse_recipe(name, params)
        combined = calibration_and_validation()
        row = meter.with_calibration(combined).measure(twin, recipe, folder, validation)
    except QuantarenaError as exc:
        return Trial(variant=twin, number=0, params=params, status="failed", reason=str(exc),
                     folder=folder.relative_to(out).as_posix(),
                     seconds=time.monotonic() - began)
    score = Score.of(row) if row.status == "ok" else None
    return Trial(
        variant=twin, number=0, params=params,
        status="ok" if score is not None else (
            "unavailable" if row.status == "unavailable" else "failed"),
        reason=None if score is not None else (row.reason or "measured without a comparison"),
        folder=folder.relative_to(out).as_posix(), seconds=time.monotonic() - began,
        validation=score, row=row,
    )


def reverted_layers(trial: Trial) -> list[str]:
    """The layers NNCF put back to floating point, as its build facts name them."""
    if trial.row is None or trial.row.build is None:
        return []
    layers = trial.row.build.facts.get("reverted_layers")
    return [str(layer) for layer in layers] if isinstance(layers, list) else []
