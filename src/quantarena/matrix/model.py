"""``matrix.json``: the typed platform × variant matrix that every matrix report renders.

Cells carry the numbers each run measured; the comparisons across platforms (leaders, rank
changes, image-by-image accuracy differences) are computed once, here, not by the renderers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from quantarena.matrix.platform import Platform
from quantarena.results.accuracy import PairedComparison

MATRIX_VERSION = "1.0"


class Cell(BaseModel):
    """One variant on one platform, as its run measured it."""

    status: str  # ok | failed | unavailable | not_run | absent (not in that run's plan)
    reason: str | None = None
    top1: float | None = None
    delta_pp: float | None = None  # vs the run's own FP32 reference
    delta_ci95_pp: list[float] = []
    delta_significant: bool | None = None
    p50_ms: float | None = None
    speed_rank: int | None = None  # 1 = lowest batch-1 p50 on this platform
    images_per_s: float | None = None
    throughput_batch: int | None = None
    size_mb: float | None = None
    peak_rss_mb: float | None = None


class Row(BaseModel):
    variant: str
    cells: dict[str, Cell]  # platform key -> cell
    #: the variant's speed rank is not the same on every platform that timed it
    rank_changes: bool = False


class Leaders(BaseModel):
    """Per platform, the variants that lead on one criterion (ties share the lead)."""

    criterion: Literal["fastest", "most accurate", "best under budget"]
    by_platform: dict[str, list[str]]
    #: no variant leads on every platform: the platform changed the answer
    changes: bool


class CrossPlatform(BaseModel):
    """One variant's accuracy on two platforms, image by image (``b`` relative to ``a``)."""

    variant: str
    a: str
    b: str
    comparison: PairedComparison | None = None
    agreement_top1: float | None = None
    reason: str | None = None  # why no comparison (a row not ok, predictions missing)


class Matrix(BaseModel):
    matrix_version: str = MATRIX_VERSION
    model: str
    weights: str
    dataset: str
    eval_images: int
    eval_list_sha256: str
    max_drop_pp: float
    platforms: list[Platform]
    rows: list[Row]
    best: dict[str, str | None]  # platform key -> fastest variant within the budget
    leaders: list[Leaders]
    cross_platform: list[CrossPlatform]
    warnings: list[str] = []

    def significant_differences(self) -> list[CrossPlatform]:
        return [c for c in self.cross_platform
                if c.comparison is not None and c.comparison.significant]
