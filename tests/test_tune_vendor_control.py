"""The vendor's accuracy control beside tune's fallback: NNCF's ``quantize_with_accuracy_control``
gets the fallback's knobs and budget, calibrates on tune's calibration split and validates on
exactly tune's validation split (appended after it), is measured like a trial, and is reported,
never chosen."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantarena.config import RunConfig
from quantarena.data.cache import cache_split, load_split
from quantarena.data.dataset import discover
from quantarena.errors import ConfigError
from quantarena.models.spec import ModelBundle
from quantarena.runner.interrupt import Stop
from quantarena.toolchains import get_toolchain
from quantarena.toolchains.openvino.accuracy_control import split_calibration
from quantarena.tune import select
from quantarena.tune.measure import CandidateMeter
from quantarena.tune.pipeline import comparison_finals
from quantarena.tune.splits import split_three
from quantarena.tune.table import vendor_comparison
from quantarena.tune.trials import Score, Trial, TuneRecord
from quantarena.tune.vendor_control import (
    reverted_layers,
    run_vendor_control,
    twin_of,
    twin_params,
)


def _base(params: dict[str, object]) -> Trial:
    score = Score(images=40, top1=0.7, drop_pp=2.0, drop_ci95_pp=[1.0, 3.0], mcnemar_p=0.1,
                  latency_p50_ms=1.0, latency_p50_ci95_ms=[0.9, 1.1])
    return Trial(variant="openvino:int8", number=2, params=params, status="ok", folder="t",
                 seconds=1.0, validation=score)


def test_only_recipes_that_declare_a_twin_have_one() -> None:
    assert twin_of("openvino:int8") == "openvino:int8-accuracy-control"
    assert twin_of("openvino:int8-accuracy-control") is None
    assert twin_of("onnxruntime:int8") is None


def test_twin_takes_the_fallback_knobs_the_budget_and_the_validation_split() -> None:
    base = _base({"subset_size": 64, "preset": "mixed", "overflow_fix": "enable",
                  "ignored_scope": ["/features/features.0/features.0.0/Conv"]})
    params = twin_params("openvino:int8", base, 0.5, validation_images=300)
    assert params == {"subset_size": 64, "preset": "mixed", "overflow_fix": "enable",
                      "max_drop": 0.005, "drop_type": "absolute", "validation_tail": 300}
    toolchain = get_toolchain("openvino")
    recipe = toolchain.parse_recipe("int8-accuracy-control", params)
    assert recipe.ignored_scope == ()  # type: ignore[attr-defined]


def test_a_validation_count_splits_off_exactly_the_appended_images(
    sample_dir: Path, cache_dir: Path, mv2_bundle: ModelBundle
) -> None:
    _, samples = discover(sample_dir)
    splits = split_three(samples, 12, 20, 16, seed=0)
    combined = load_split(cache_split([*splits.calibration, *splits.validation],
                                      mv2_bundle.preprocessing, cache_dir, "cal+val"))
    calibrate, validate = split_calibration(combined, 0.35, count=20)
    assert calibrate.files == [s.name for s in splits.calibration]
    assert validate.files == [s.name for s in splits.validation]
    with pytest.raises(ConfigError, match="at least one must be left"):
        split_calibration(combined, 0.35, count=len(combined))


@pytest.mark.slow
def test_vendor_control_is_measured_like_a_trial_on_the_same_splits(
    sample_dir: Path, mv2_bundle: ModelBundle, tmp_path: Path
) -> None:
    _, samples = discover(sample_dir)
    splits = split_three(samples, 24, 40, 16, seed=0)
    cache = tmp_path / "cache"
    calibration = cache_split(splits.calibration, mv2_bundle.preprocessing, cache, "calibration")
    validation = cache_split(splits.validation, mv2_bundle.preprocessing, cache, "validation")
    bundle_file = tmp_path / "bundle.json"
    mv2_bundle.save(bundle_file)
    config = RunConfig(data=sample_dir, out=tmp_path / "out", threads=2).resolved()
    meter = CandidateMeter(config, mv2_bundle, bundle_file, calibration, Stop(), log=print)
    toolchain = get_toolchain("openvino")
    reference = meter.measure("openvino:fp32", toolchain.parse_recipe("fp32"),
                              tmp_path / "reference", validation, is_reference=True)
    assert reference.status == "ok", reference.reason

    def combined() -> Path:
        return cache_split([*splits.calibration, *splits.validation], mv2_bundle.preprocessing,
                           cache, "calibration+validation")

    base = _base({"subset_size": 24, "preset": "performance", "fast_bias_correction": True,
                  "overflow_fix": "auto"})
    trial = run_vendor_control("openvino:int8", base, max_drop_pp=0.0, validation_images=40,
                               meter=meter, calibration_and_validation=combined,
                               validation=validation, out=tmp_path)
    assert trial.status == "ok", trial.reason
    assert trial.variant == "openvino:int8-accuracy-control" and trial.row is not None
    assert trial.validation is not None and trial.validation.images == 40
    assert trial.validation.latency_p50_ms is not None
    facts = trial.row.build.facts  # type: ignore[union-attr]
    # NNCF validated on tune's 40 validation images and calibrated on the 24 calibration ones
    assert facts["validation_images"] == 40 and facts["calibration_images_used"] == 24
    # its own FP32 validation top-1 is the reference's on the same images (same FP32 graph)
    assert reference.accuracy is not None
    assert facts["validation_top1_fp32"] == pytest.approx(reference.accuracy.top1, abs=0.026)
    assert reverted_layers(trial) == facts["reverted_layers"]
    assert trial.row.recipe["max_drop"] == 0.0

    # reported beside the fallback and evaluated with the finals, but never chosen: the searched
    # trial that misses the budget is still the one the OpenVINO choice falls on
    record = TuneRecord(started_at="now", config={}, max_drop_pp=0.0, acceptance_rule="",
                        splits=splits.record(), reference="openvino:fp32", trials=[base],
                        vendor_control={"openvino:int8": trial})
    text = vendor_comparison(record, "openvino:int8")
    assert "openvino:int8-accuracy-control" in text and f"| {len(facts['reverted_layers'])}" in text
    choices, _ = select.choose(record.trials, 0.0, lambda v: v.split(":")[0])
    assert [c.trial.key for c in choices] == [base.key]
    (final,) = comparison_finals(record, 0.0)
    assert final.comparison and record.trial_of(final) is trial
    assert final.meets_budget == (trial.validation.drop_pp <= 0.0)
