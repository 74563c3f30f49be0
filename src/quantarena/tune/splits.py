"""Three disjoint splits for tuning: calibration (what the quantizers read), validation (what
every tuning decision reads) and evaluation (read once, by the final candidates only).

Tuning on the images that report the result is the mistake this module exists to prevent: with a
few dozen trials, the best validation score is an optimistic estimate (the maximum of noisy
numbers), so the number a user is shown must come from images no decision has seen. The shuffle
is the one ``run`` uses with the same seed, so the calibration split is the same images as a
``run``'s with the same seed and count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from quantarena.data.dataset import Sample
from quantarena.data.split import list_sha256
from quantarena.errors import ConfigError


@dataclass(frozen=True)
class TuneSplits:
    calibration: list[Sample]
    validation: list[Sample]
    evaluation: list[Sample]

    def record(self) -> SplitRecord:
        return SplitRecord(
            calibration_images=len(self.calibration),
            validation_images=len(self.validation),
            evaluation_images=len(self.evaluation),
            calibration_list_sha256=list_sha256(self.calibration),
            validation_list_sha256=list_sha256(self.validation),
            evaluation_list_sha256=list_sha256(self.evaluation),
        )


class SplitRecord(BaseModel):
    """The three splits as ``tune.json`` records them: sizes and the SHA-256 of each file list
    (equal hashes, equal images), so a resumed search can prove it reads the same images."""

    model_config = ConfigDict(extra="forbid")
    calibration_images: int
    validation_images: int
    evaluation_images: int
    calibration_list_sha256: str
    validation_list_sha256: str
    evaluation_list_sha256: str


def split_three(
    samples: list[Sample], calibration: int, validation: int, evaluation: int | None, seed: int
) -> TuneSplits:
    """Shuffle with ``seed``; the first ``calibration`` samples calibrate, the next ``validation``
    decide, the next ``evaluation`` (default: all the rest) report. No image is in two."""
    if calibration < 1 or validation < 1:
        raise ConfigError("calibration and validation images must be at least 1 each")
    available = len(samples) - calibration - validation
    if available < 1:
        raise ConfigError(
            f"the dataset has {len(samples)} images: too few for {calibration} calibration + "
            f"{validation} validation images plus an evaluation split"
        )
    if evaluation is not None and evaluation > available:
        raise ConfigError(
            f"asked for {evaluation} evaluation images but only {available} remain after "
            f"{calibration} calibration and {validation} validation images"
        )
    order = np.random.default_rng(seed).permutation(len(samples))
    shuffled = [samples[i] for i in order]
    second = calibration + validation
    end = second + (evaluation if evaluation is not None else available)
    return TuneSplits(
        calibration=shuffled[:calibration],
        validation=shuffled[calibration:second],
        evaluation=shuffled[second:end],
    )
