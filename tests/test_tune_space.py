"""Declared search spaces: every knob a recipe declares is one of its fields, every value in its
range builds a valid recipe, its default is a point of the space (the plain recipe is trial 0),
and counts of calibration images stop at the calibration split."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution

from quantarena.toolchains.registry import registered_toolchains
from quantarena.tune.space import Choice, Count, distributions, plain_point

TUNABLE = [
    (f"{t.name}:{name}", cls)
    for t in registered_toolchains()
    for name, cls in t.recipes.items()
    if cls.search_space
]


def test_every_cpu_int8_toolchain_declares_a_space() -> None:
    names = {variant for variant, _ in TUNABLE}
    assert {"onnxruntime:int8", "openvino:int8", "pytorch:int8-pt2e",
            "tensorrt:int8-simulated", "pytorch:int8-qat"} <= names
    assert all(cls.precision == "int8" for _, cls in TUNABLE)


@pytest.mark.parametrize(("variant", "cls"), TUNABLE, ids=[v for v, _ in TUNABLE])
def test_declared_knobs_are_fields_and_every_value_builds_a_recipe(variant: str, cls: type) -> None:
    space = cls.search_space
    assert len({k.knob for k in space}) == len(space), "a knob is declared twice"
    for knob in space:
        assert knob.knob in cls.model_fields, f"{variant}: {knob.knob} is not a knob"
        default = cls.model_fields[knob.knob].default
        if isinstance(knob, Choice):
            assert default in knob.options, f"{variant}: default {default!r} not searched"
            for value in knob.options:
                assert getattr(cls(**{knob.knob: value}), knob.knob) == value
        else:
            low, high = knob.bounds(200)
            for value in (low, high):
                assert getattr(cls(**{knob.knob: value}), knob.knob) == value


def test_distributions_and_the_plain_point() -> None:
    from quantarena.toolchains.onnxruntime.recipes import OrtStaticInt8

    space = OrtStaticInt8.search_space
    dists = distributions(space, 200)
    assert dists["calibration_images"] == IntDistribution(16, 200, log=True)
    assert isinstance(dists["calibration_method"], CategoricalDistribution)
    defaults = {k.knob: OrtStaticInt8.model_fields[k.knob].default for k in space}
    plain = plain_point(space, defaults, 200)
    # None (the whole split) is the split's size; every other default as declared
    assert plain["calibration_images"] == 200 and plain["calibration_method"] == "minmax"
    assert plain["reduce_range"] == "auto" and plain["per_channel"] is True


def test_counts_never_exceed_a_small_calibration_split() -> None:
    count = Count("calibration_images", low=16)
    assert count.bounds(8) == (8, 8) and count.plain(None, 8) == 8
    assert Count("steps", low=20, high=240).bounds(8) == (20, 240)
    assert count.plain(500, 100) == 100 and count.plain(4, 100) == 16
