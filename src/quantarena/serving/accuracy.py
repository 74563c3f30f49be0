"""LoadGen's accuracy mode scored against the accuracy pass, image by image. LoadGen's accuracy
log (``mlperf_log_accuracy.json``) holds what the SUT answered for every sample: here the top-1
class as one little-endian int64, keyed by the sample's index in the evaluation split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.errors import QuantarenaError
from quantarena.measure.accuracy import Predictions
from quantarena.results.scenarios import AccuracyAgreement

SHOWN_MISMATCHES = 10


def read_accuracy_log(path: Path, count: int) -> np.ndarray:
    """Top-1 per sample index (-1 where LoadGen logged none)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise QuantarenaError(f"LoadGen's accuracy log {path} is unreadable: {exc}") from exc
    top1 = np.full(count, -1, dtype=np.int64)
    for entry in entries:
        data = bytes.fromhex(entry["data"])
        top1[int(entry["qsl_idx"])] = int(np.frombuffer(data, dtype="<i8")[0])
    return top1


def agreement(
    log: Path, predictions_path: Path, split: ImageArray, mode: str
) -> AccuracyAgreement:
    expected = Predictions.load(predictions_path).top1
    served = read_accuracy_log(log, len(split))
    differ = np.flatnonzero(served != expected)
    return AccuracyAgreement(
        mode=mode,
        images=len(split),
        agree=int(len(split) - len(differ)),
        top1=float(np.mean(served == split.labels)),
        mismatches=[
            f"{split.files[i]}: accuracy pass {expected[i]}, LoadGen {served[i]}"
            for i in differ[:SHOWN_MISMATCHES]
        ],
    )
