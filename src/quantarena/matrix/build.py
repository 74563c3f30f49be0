"""Build the matrix from compatible runs: one cell per variant and platform, the best variant per
platform under an accuracy budget, the leaders whose identity changes between platforms, and
each variant's accuracy compared across platforms on the same images (exact McNemar, paired
bootstrap: the statistics ``compare --variants`` uses within one run)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from quantarena.matrix.model import Cell, CrossPlatform, Leaders, Matrix, Row
from quantarena.matrix.platform import Platform, platforms_of
from quantarena.matrix.runs import Run
from quantarena.measure.accuracy import Predictions
from quantarena.results.accuracy import PairedComparison
from quantarena.results.schema import SCHEMA_VERSION, Results, VariantResult

DEFAULT_MAX_DROP_PP = 1.0


def _cell(v: VariantResult | None, results: Results) -> Cell:
    if v is None:
        return Cell(status="absent", reason="not in this run's plan")
    cell = Cell(status=v.status, reason=v.reason)
    if v.status != "ok":
        return cell
    acc = v.accuracy
    if acc is not None:
        cell.top1 = acc.top1
        cell.delta_pp = 0.0 if v.name == results.reference else acc.top1_delta_pp
        paired = acc.vs_reference
        if paired is not None and v.name != results.reference:
            cell.delta_ci95_pp, cell.delta_significant = list(paired.ci95_pp), paired.significant
    if v.latency_ms is not None:
        cell.p50_ms = v.latency_ms.p50
    if v.throughput:
        widest = max(v.throughput, key=lambda t: t.batch)
        cell.images_per_s, cell.throughput_batch = widest.images_per_s, widest.batch
    cell.size_mb = v.artifact.size_mb if v.artifact else None
    cell.peak_rss_mb = v.memory.peak_rss_mb if v.memory else None
    return cell


def _rank_speed(rows: list[Row], key: str) -> None:
    timed = sorted((r.cells[key].p50_ms, r.variant) for r in rows
                   if r.cells[key].p50_ms is not None)
    for rank, (_, name) in enumerate(timed, start=1):
        next(r for r in rows if r.variant == name).cells[key].speed_rank = rank


def _leaders(
    rows: list[Row], platforms: list[Platform], criterion: str,
    score: Callable[[Cell], float | None],
) -> Leaders:
    """The variants with the best (lowest) score per platform; ``changes`` when no variant
    leads everywhere."""
    by_platform: dict[str, list[str]] = {}
    for p in platforms:
        scored = [(s, r.variant) for r in rows if (s := score(r.cells[p.key])) is not None]
        best = min((s for s, _ in scored), default=None)
        by_platform[p.key] = [name for s, name in scored if s == best]
    sets = [set(names) for names in by_platform.values() if names]
    changes = len(sets) > 1 and not set.intersection(*sets)
    return Leaders.model_validate(
        {"criterion": criterion, "by_platform": by_platform, "changes": changes}
    )


def _within(max_drop: float) -> Callable[[Cell], float | None]:
    def score(cell: Cell) -> float | None:
        ok = cell.delta_pp is not None and cell.delta_pp >= -max_drop
        return cell.p50_ms if ok else None
    return score


def _predictions(run: Run, name: str) -> Predictions | str:
    v = run.results.variant(name)
    if v is None or v.status != "ok":
        return f"{'absent' if v is None else v.status} in {run.folder}"
    if not v.predictions_file:
        return f"no per-image predictions in {run.folder}"
    path = run.folder / v.predictions_file
    if not path.exists():
        return f"predictions missing: {path}"
    return Predictions.load(path)


def _cross(name: str, a: tuple[Platform, Run], b: tuple[Platform, Run]) -> CrossPlatform:
    entry = CrossPlatform(variant=name, a=a[0].key, b=b[0].key)
    pa, pb = _predictions(a[1], name), _predictions(b[1], name)
    for side in (pa, pb):
        if isinstance(side, str):
            entry.reason = side
            return entry
    assert isinstance(pa, Predictions) and isinstance(pb, Predictions)
    if pa.files != pb.files:
        entry.reason = "the two runs' predictions cover different images"
        return entry
    entry.comparison = PairedComparison.of(pb.correct_top1, pa.correct_top1)
    entry.agreement_top1 = float(np.mean(pa.top1 == pb.top1))
    return entry


def build_matrix(
    runs: list[Run], warnings: list[str], max_drop_pp: float = DEFAULT_MAX_DROP_PP
) -> Matrix:
    platforms = platforms_of([(str(run.folder), run.results) for run in runs])
    names = list(dict.fromkeys(v.name for run in runs for v in run.results.variants))
    rows = [
        Row(variant=name, cells={p.key: _cell(run.results.variant(name), run.results)
                                 for p, run in zip(platforms, runs, strict=True)})
        for name in names
    ]
    for p in platforms:
        _rank_speed(rows, p.key)
    for row in rows:
        ranks = {c.speed_rank for c in row.cells.values() if c.speed_rank is not None}
        row.rank_changes = len(ranks) > 1
    within = _within(max_drop_pp)
    leaders = [
        _leaders(rows, platforms, "fastest", lambda c: c.p50_ms),
        _leaders(rows, platforms, "most accurate",
                 lambda c: None if c.top1 is None else -round(c.top1, 6)),
        _leaders(rows, platforms, "best under budget", within),
    ]
    best = {key: (names_[0] if names_ else None)
            for key, names_ in leaders[2].by_platform.items()}
    paired = list(zip(platforms, runs, strict=True))
    cross = [_cross(name, a, b) for name in names for a, b in itertools.combinations(paired, 2)]
    first = runs[0].results
    notes = list(warnings)
    for p, run in paired:
        if run.schema_version != SCHEMA_VERSION:
            notes.append(f"{p.key}: results written in schema {run.schema_version}, read as "
                         f"{SCHEMA_VERSION}")
    return Matrix(
        model=first.model.name, weights=first.model.weights, dataset=first.dataset.name,
        eval_images=first.dataset.eval_images, eval_list_sha256=first.dataset.eval_list_sha256,
        max_drop_pp=max_drop_pp, platforms=platforms, rows=rows, best=best, leaders=leaders,
        cross_platform=cross, warnings=notes,
    )
