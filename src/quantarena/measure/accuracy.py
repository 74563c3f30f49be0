"""Top-1/top-5 from logits, per-image predictions, and the paired comparison with a reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from quantarena.data.cache import ImageArray
from quantarena.hardware import Int8Arithmetic
from quantarena.results.accuracy import Accuracy, PairedComparison
from quantarena.results.kernel import KernelCheck

TOP_K = 5


@dataclass(frozen=True)
class Predictions:
    """Top-5 class ids per image (best first), in evaluation-split order."""

    files: list[str]
    labels: np.ndarray  # (N,)
    top5: np.ndarray  # (N, 5)

    @property
    def top1(self) -> np.ndarray:
        return np.asarray(self.top5[:, 0])

    @property
    def correct_top1(self) -> np.ndarray:
        return np.asarray(self.top1 == self.labels)

    @property
    def correct_top5(self) -> np.ndarray:
        return np.asarray((self.top5 == self.labels[:, None]).any(axis=1))

    def save(self, path: Path) -> None:
        np.savez_compressed(path, files=np.asarray(self.files), labels=self.labels, top5=self.top5)

    @classmethod
    def load(cls, path: Path) -> Predictions:
        with np.load(path) as data:
            return cls(
                files=[str(f) for f in data["files"]], labels=data["labels"], top5=data["top5"]
            )

    def accuracy(self, reference: Predictions | None = None) -> Accuracy:
        """Top-1/top-5 of these predictions; with ``reference`` (the same images), also the
        paired change, its CI and McNemar test, and the top-1 agreement."""
        accuracy = Accuracy(
            images=len(self.files),
            top1=float(self.correct_top1.mean()),
            top5=float(self.correct_top5.mean()),
        )
        if reference is None:
            return accuracy
        if reference.files != self.files:
            raise ValueError("reference and variant were evaluated on different images")
        return accuracy.compared_with(self.top1, self.labels, reference.top1)

    def kernel_check(self, exact: Predictions, cpu: Int8Arithmetic | None) -> KernelCheck:
        """These (deployed) predictions against ``exact``: the same graph in exact arithmetic."""
        if exact.files != self.files:
            raise ValueError("deployed and exact-arithmetic predictions cover different images")
        return KernelCheck(
            images=len(self.files), exact_top1=float(exact.correct_top1.mean()),
            agreement_top1=float(np.mean(self.top1 == exact.top1)),
            kernels=PairedComparison.of(self.correct_top1, exact.correct_top1), cpu=cpu,
        )


def predict(
    run: Callable[[np.ndarray], np.ndarray], images: ImageArray, batch: int, desc: str = "accuracy"
) -> Predictions:
    """Run every evaluation image once (fixed batch shape, last batch padded)."""
    rows = []
    for chunk, valid in tqdm(images.batches(batch), desc=desc, unit="batch", leave=False):
        logits = np.asarray(run(chunk))[:valid]
        if logits.ndim != 2:
            raise ValueError(f"expected (batch, classes) logits, got shape {logits.shape}")
        rows.append(np.argsort(-logits, axis=1)[:, :TOP_K])
    return Predictions(
        files=list(images.files), labels=np.asarray(images.labels), top5=np.concatenate(rows)
    )
