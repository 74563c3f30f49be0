"""Shared fixtures: real sample images and the real MobileNetV2 FP32 bundle, made once per session.

``QUANTARENA_TEST_DATA`` overrides the dataset location (default
``../shared/datasets/imagenet-val-sample`` next to the checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(
    os.environ.get(
        "QUANTARENA_TEST_DATA", REPO.parent / "shared" / "datasets" / "imagenet-val-sample"
    )
)

# Small real-image splits keep the suite inside CI's time while still exercising every path.
CALIBRATION_COUNT = 32
EVALUATION_COUNT = 48


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    if not (SAMPLE / "labels.csv").exists():
        pytest.fail(f"the ImageNet sample is missing at {SAMPLE}; set QUANTARENA_TEST_DATA")
    return SAMPLE


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def mv2_bundle(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Torchvision MobileNetV2 with its real IMAGENET1K_V1 weights, exported to ONNX."""
    from quantarena.models.prepare import prepare_bundle

    return prepare_bundle("mobilenet_v2", "default", tmp_path_factory.mktemp("bundle"), seed=0)


@pytest.fixture(scope="session")
def splits(sample_dir: Path, cache_dir: Path, mv2_bundle):  # type: ignore[no-untyped-def]
    """(calibration, evaluation) ImageArrays of real preprocessed images, disjoint."""
    from quantarena.data.cache import cache_split, load_split
    from quantarena.data.dataset import discover
    from quantarena.data.split import split_samples

    _, samples = discover(sample_dir)
    split = split_samples(samples, CALIBRATION_COUNT, EVALUATION_COUNT, seed=0)
    spec = mv2_bundle.preprocessing
    calibration = load_split(cache_split(split.calibration, spec, cache_dir, "calibration"))
    evaluation = load_split(cache_split(split.evaluation, spec, cache_dir, "evaluation"))
    return calibration, evaluation


@pytest.fixture(scope="session")
def calibration_images(splits):  # type: ignore[no-untyped-def]
    return splits[0]


@pytest.fixture(scope="session")
def evaluation_images(splits):  # type: ignore[no-untyped-def]
    return splits[1]
