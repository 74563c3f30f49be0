"""Top-1/top-5 from logits, per-image predictions, and agreement/paired statistics vs a reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from quantarena.data.cache import ImageArray
from quantarena.measure.stats import paired_comparison

TOP_K = 5


@dataclass(frozen=True)
class Predictions:
    """Top-5 class ids per image (best first), in evaluation-split order."""

    files: list[str]
    labels: np.ndarray  # (N,)
    top5: np.ndarray  # (N, 5)

    @property
    def correct_top1(self) -> np.ndarray:
        return self.top5[:, 0] == self.labels

    @property
    def correct_top5(self) -> np.ndarray:
        return (self.top5 == self.labels[:, None]).any(axis=1)

    def save(self, path: Any) -> None:
        np.savez_compressed(path, files=np.asarray(self.files), labels=self.labels, top5=self.top5)

    @classmethod
    def load(cls, path: Any) -> Predictions:
        with np.load(path) as data:
            return cls(files=[str(f) for f in data["files"]], labels=data["labels"], top5=data["top5"])


def predict(run: Callable[[np.ndarray], np.ndarray], images: ImageArray, batch: int, desc: str = "accuracy") -> Predictions:
    """Run every evaluation image once (fixed batch shape, last batch padded)."""
    rows = []
    for chunk, valid in tqdm(images.batches(batch), desc=desc, unit="batch", leave=False):
        logits = np.asarray(run(chunk))[:valid]
        if logits.ndim != 2:
            raise ValueError(f"expected (batch, classes) logits, got shape {logits.shape}")
        rows.append(np.argsort(-logits, axis=1)[:, :TOP_K])
    return Predictions(files=list(images.files), labels=np.asarray(images.labels), top5=np.concatenate(rows))


def accuracy_summary(pred: Predictions, reference: Predictions | None) -> dict[str, Any]:
    """The ``accuracy`` block of a variant's results (fractions; delta in percentage points)."""
    summary: dict[str, Any] = {
        "images": len(pred.files),
        "top1": float(pred.correct_top1.mean()),
        "top5": float(pred.correct_top5.mean()),
    }
    if reference is not None:
        if reference.files != pred.files:
            raise ValueError("reference and variant were evaluated on different images")
        comparison = paired_comparison(pred.correct_top1, reference.correct_top1)
        summary["top1_delta_pp"] = comparison.delta_pp
        summary["agreement_top1"] = float(np.mean(pred.top5[:, 0] == reference.top5[:, 0]))
        summary["vs_reference"] = comparison.to_json()
    return summary
