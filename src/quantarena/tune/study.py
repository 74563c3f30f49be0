"""``quantarena tune --study calibration``: Δ top-1 against calibration image count × calibration
method, per recipe, every point a real build measured by the workers a tune trial uses
(``CandidateMeter``), on the validation split, paired with the FP32 reference on the same images.

It runs instead of the search (a search and a study in one command would overrun the search's
30-minute default budget); run both into the same ``--out`` and they share the FP32 bundle and
the reference measurement, and ``tune.md`` shows both. The evaluation split is never read.
Each point is saved in ``tune.json`` as soon as it is measured; a rerun measures only the points
missing (a failed build is kept as failed, not retried).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from quantarena.config import MeasureConfig, RunConfig
from quantarena.toolchains import parse_variant
from quantarena.tune.measure import TRIAL_MEASURE, CandidateMeter
from quantarena.tune.study_plan import (
    GridPoint,
    StudySettings,
    estimate_seconds,
    plan_line,
    point_seconds,
    study_counts,
    study_grid,
)
from quantarena.tune.study_table import delta
from quantarena.tune.trials import (
    Score,
    StudyPoint,
    StudyRecord,
    TrialStatus,
    TuneRecord,
    load_record,
    save_record,
)

Log = Callable[[str], None]

#: A study ranks nothing by speed, so each point gets the shortest timing pass the meter allows
#: (at least 5 calls, at most about a second with warm-up) instead of a trial's 2 to 10 s: its
#: p50 is indicative only. Same workers, same meters, same accuracy pass.
STUDY_MEASURE = MeasureConfig(**{
    **TRIAL_MEASURE.model_dump(),
    "latency_min_iterations": 5,
    "latency_min_seconds": 0.0,
    "latency_max_seconds": 0.5,
    "latency_target_ci": 0.05,
    "warmup_max_seconds": 0.5,
})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _key(variant: str, params: dict[str, object]) -> tuple[str, str]:
    return variant, json.dumps(params, sort_keys=True)


def announce(settings: StudySettings, variants: list[str], config: RunConfig) -> str:
    """The grid checked (one line and exit 2 for a bad count or variant, before anything runs)
    and the plan with its estimated duration, counting points an earlier attempt kept."""
    grid = study_grid(settings, variants, config.calibration_images)
    earlier = load_record(config.out.resolve()) if config.out is not None else None
    study = earlier.study if earlier is not None else None
    done = _finished(study)
    pending = [p for p in grid if _key(p.variant, p.params) not in done]
    return plan_line(grid, pending, estimate_seconds(pending, _scale(study)))


def _finished(study: StudyRecord | None) -> dict[tuple[str, str], StudyPoint]:
    points = study.points if study is not None else []
    return {_key(p.variant, p.params): p for p in points if p.status != "unavailable"}


def _scale(study: StudyRecord | None) -> dict[str, float]:
    """Per variant, its measured points' seconds over what ``point_seconds`` expected of them:
    a larger model or a slower machine shows in the estimate of what is left."""
    if study is None:
        return {}
    spent: dict[str, list[float]] = {}
    for p in study.points:
        if p.status == "ok":
            pair = spent.setdefault(p.variant, [0.0, 0.0])
            pair[0] += p.seconds
            pair[1] += point_seconds(p.variant, p.params, p.images)
    return {variant: took / expected for variant, (took, expected) in spent.items()}


def artifact_sha256(out: Path, point: StudyPoint) -> str | None:
    """SHA-256 over the point's artifact files (names and bytes), so two methods that build the
    same model byte for byte are seen to be one; ``None`` when it kept no artifact."""
    row = point.row
    if row is None or row.artifact is None:
        return None
    base = out / point.folder / Path(row.artifact.path).parent
    digest = hashlib.sha256()
    for name in sorted(row.artifact.files):
        path = base / name
        if not path.is_file():
            return None
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_study(record: TuneRecord, settings: StudySettings, variants: list[str],
              meter: CandidateMeter, out: Path, validation: Path, log: Log) -> TuneRecord:
    """Measure every point of the grid not already in ``record.study``; ``tune.json`` is saved
    after each one."""
    grid = study_grid(settings, variants, record.splits.calibration_images)
    counts = study_counts(settings, record.splits.calibration_images)
    study = (record.study or StudyRecord(variants=variants, counts=[], started_at=_now()))
    study = study.model_copy(update={
        "variants": variants, "counts": list(counts), "budget_pp": settings.budget_pp,
        "unavailable": {}, "finished_at": None,
    })
    record.study = study
    for kept in study.points:  # kept from before the hash was recorded: hashed where it lies
        if kept.artifact_sha256 is None and kept.status == "ok":
            kept.artifact_sha256 = artifact_sha256(out, kept)
    save_record(record, out)
    meter = replace(meter, timing=STUDY_MEASURE)
    done = _finished(study)
    pending = [p for p in grid if _key(p.variant, p.params) not in done]
    with tqdm(total=len(grid), initial=len(grid) - len(pending), desc="study points",
              unit="point") as bar:
        for point in pending:
            toolchain, name = parse_variant(point.variant)
            problem = toolchain.unavailable(name, meter.bundle)
            if problem is not None:
                study.unavailable[point.variant] = problem.reason
                bar.update(1)
                continue
            bar.set_postfix_str(f"{point.variant} {point.method} {point.images}")
            measured = _measure(point, meter, out, validation)
            study.points = [p for p in study.points
                            if _key(p.variant, p.params) != _key(point.variant, point.params)]
            study.points.append(measured)
            study.seconds += measured.seconds
            save_record(record, out)
            bar.update(1)
            tqdm.write(point_line(measured))
    study.finished_at = _now()
    save_record(record, out)
    skipped = sum(1 for p in pending if p.variant in study.unavailable)
    log(f"calibration study: {len(grid) - len(pending)} point(s) kept, "
        f"{len(pending) - skipped} measured"
        + (f", {skipped} of unavailable variants skipped" if skipped else ""))
    return record


def _measure(point: GridPoint, meter: CandidateMeter, out: Path, validation: Path
             ) -> StudyPoint:
    """One build and one measuring worker, exactly as a tune trial."""
    toolchain, name = parse_variant(point.variant)
    folder = out / point.folder
    began = time.monotonic()
    row = meter.measure(point.variant, toolchain.parse_recipe(name, point.params), folder,
                        validation)
    score = Score.of(row) if row.status == "ok" else None
    status: TrialStatus = "ok" if score is not None else (
        "unavailable" if row.status == "unavailable" else "failed")
    reason = row.reason if row.status != "ok" else (
        None if score is not None else "measured without a comparison with the reference")
    measured = StudyPoint(
        variant=point.variant, method=point.method, images=point.images, params=point.params,
        status=status, reason=reason, folder=point.folder, seconds=time.monotonic() - began,
        validation=score, row=row,
    )
    measured.artifact_sha256 = artifact_sha256(out, measured)
    return measured


def point_line(point: StudyPoint) -> str:
    head = f"  {point.variant} {point.method} @ {point.images} images"
    if point.validation is None:
        return f"{head}: {point.status}: {point.reason}"
    d, lo, hi = delta(point.validation)
    return f"{head}: Δ top-1 {d:+.2f} pp [{lo:+.2f}, {hi:+.2f}] ({point.seconds:.0f} s)"


def summary(record: TuneRecord, out: Path, chart: Path | None) -> str:
    """The terminal's account: per variant the range of Δ top-1 over the study and where its
    worst and best points lie; where the chart and the table are."""
    study = record.study
    assert study is not None
    lines = []
    for variant in dict.fromkeys([*study.variants, *(p.variant for p in study.points)]):
        scored = [p for p in study.points if p.variant == variant and p.validation is not None]
        if variant in study.unavailable:
            lines.append(f"{variant}: unavailable: {study.unavailable[variant]}")
        if not scored:
            continue
        worst = min(scored, key=lambda p: (_delta(p), p.images))
        best = max(scored, key=lambda p: (_delta(p), -p.images))
        lines.append(
            f"{variant}: Δ top-1 from {point_delta(worst)} pp ({worst.method}, {worst.images} "
            f"images) to {point_delta(best)} pp ({best.method}, {best.images} images) over "
            f"{len(scored)} point(s)")
    ok = sum(1 for p in study.points if p.validation is not None)
    lines.append(
        f"calibration study: {ok} point(s) on {record.splits.validation_images} validation "
        f"images, {study.seconds / 60:.1f} min of building and measuring; chart: "
        f"{chart if chart is not None else '—'}; table: {out / 'tune.md'}")
    return "\n".join(lines)


def _delta(point: StudyPoint) -> float:
    assert point.validation is not None
    return delta(point.validation)[0]


def point_delta(point: StudyPoint) -> str:
    return f"{_delta(point):+.2f}"
