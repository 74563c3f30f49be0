"""Accuracy as a typed measurement: top-1/top-5 on the evaluation split and the paired comparison
with a reference (bootstrap CI, exact McNemar), computed from per-image correctness."""

from __future__ import annotations

import numpy as np

from quantarena.measure.stats import bootstrap_ci_pp, mcnemar_exact_p
from quantarena.results.measurements import Block


class PairedComparison(Block):
    """Variant vs reference on the same images (paired bootstrap CI, exact McNemar)."""

    images: int
    delta_pp: float  # top-1 change in percentage points (variant - reference)
    ci95_pp: list[float]
    mcnemar_p: float
    gained: int  # images the variant gets right and the reference wrong
    lost: int  # images the reference gets right and the variant wrong
    significant: bool  # CI excludes zero and p < 0.05

    @classmethod
    def of(cls, correct: np.ndarray, reference_correct: np.ndarray) -> PairedComparison:
        """``correct``/``reference_correct``: per-image booleans of the same images, in order."""
        a = np.asarray(correct, dtype=bool)
        r = np.asarray(reference_correct, dtype=bool)
        if a.shape != r.shape or a.ndim != 1 or len(a) == 0:
            raise ValueError(
                "paired comparison needs two equal-length, non-empty per-image vectors"
            )
        lo, hi = bootstrap_ci_pp(a.astype(np.int8) - r.astype(np.int8))
        gained, lost = int(np.sum(a & ~r)), int(np.sum(~a & r))
        p = mcnemar_exact_p(gained, lost)
        return cls(
            images=len(a),
            delta_pp=float((a.mean() - r.mean()) * 100.0),
            ci95_pp=[lo, hi],
            mcnemar_p=p,
            gained=gained,
            lost=lost,
            significant=bool(p < 0.05 and not (lo <= 0.0 <= hi)),
        )


class Accuracy(Block):
    """Top-1/top-5 on the evaluation split; with a reference, the paired change and agreement."""

    images: int
    top1: float
    top5: float
    top1_delta_pp: float | None = None
    agreement_top1: float | None = None
    vs_reference: PairedComparison | None = None

    def compared_with(
        self, top1: np.ndarray, labels: np.ndarray, reference_top1: np.ndarray
    ) -> Accuracy:
        """This accuracy with the paired comparison against the reference's top-1 predictions."""
        if len(top1) != len(reference_top1):
            raise ValueError("reference and variant were evaluated on different images")
        comparison = PairedComparison.of(top1 == labels, reference_top1 == labels)
        return self.model_copy(
            update={
                "top1_delta_pp": comparison.delta_pp,
                "agreement_top1": float(np.mean(top1 == reference_top1)),
                "vs_reference": comparison,
            }
        )


#: The measurement keys of a variant's row, in measuring order (also the ``unavailable`` keys).
