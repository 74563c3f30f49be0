"""The three tuning splits: disjoint, sized as asked, recorded by hash, the calibration images
the same as ``run``'s for the same seed, and one-line errors when the data is too small."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantarena.data.dataset import discover
from quantarena.data.split import list_sha256, split_samples
from quantarena.errors import ConfigError
from quantarena.tune.splits import split_three


def test_three_disjoint_splits_recorded_by_hash(sample_dir: Path) -> None:
    _, samples = discover(sample_dir)
    splits = split_three(samples, 50, 70, 90, seed=3)
    names = [{s.name for s in part} for part in (splits.calibration, splits.validation,
                                                 splits.evaluation)]
    assert [len(n) for n in names] == [50, 70, 90]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    record = splits.record()
    assert record.validation_list_sha256 == list_sha256(splits.validation)
    assert len({record.calibration_list_sha256, record.validation_list_sha256,
                record.evaluation_list_sha256}) == 3
    assert split_three(samples, 50, 70, 90, seed=3).record() == record
    assert split_three(samples, 50, 70, 90, seed=4).record() != record


def test_calibration_is_runs_calibration_and_evaluation_defaults_to_the_rest(
    sample_dir: Path,
) -> None:
    _, samples = discover(sample_dir)
    tune = split_three(samples, 40, 100, None, seed=0)
    run = split_samples(samples, 40, None, seed=0)
    assert tune.calibration == run.calibration
    assert len(tune.evaluation) == len(samples) - 140


def test_too_few_images_is_one_clear_error(sample_dir: Path) -> None:
    _, samples = discover(sample_dir)
    with pytest.raises(ConfigError, match="too few"):
        split_three(samples[:10], 5, 5, None, seed=0)
    with pytest.raises(ConfigError, match="only 5 remain"):
        split_three(samples[:20], 5, 10, 6, seed=0)
    with pytest.raises(ConfigError, match="at least 1"):
        split_three(samples, 5, 0, None, seed=0)
