"""Seeded, disjoint calibration / evaluation splits, recorded by the SHA-256 of their file lists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from quantarena.data.dataset import Sample
from quantarena.errors import ConfigError


@dataclass(frozen=True)
class Split:
    calibration: list[Sample]
    evaluation: list[Sample]


def list_sha256(samples: list[Sample]) -> str:
    """Hash of the newline-joined file names, in split order: equal hashes mean equal images."""
    joined = "\n".join(s.name for s in samples)
    return hashlib.sha256(joined.encode()).hexdigest()


def split_samples(
    samples: list[Sample], calibration: int, evaluation: int | None, seed: int
) -> Split:
    """Shuffle with ``seed``; the first ``calibration`` samples calibrate, the next ``evaluation``
    (default: all the rest) evaluate. No image is in both."""
    if calibration < 1:
        raise ConfigError("calibration images must be at least 1")
    available = len(samples) - calibration
    if available < 1:
        raise ConfigError(
            f"the dataset has {len(samples)} images: too few for {calibration} calibration images "
            "plus an evaluation split"
        )
    if evaluation is not None and evaluation > available:
        raise ConfigError(
            f"asked for {evaluation} evaluation images but only {available} remain after "
            f"{calibration} calibration images"
        )
    order = np.random.default_rng(seed).permutation(len(samples))
    shuffled = [samples[i] for i in order]
    end = calibration + (evaluation if evaluation is not None else available)
    return Split(calibration=shuffled[:calibration], evaluation=shuffled[calibration:end])
