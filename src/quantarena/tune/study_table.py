"""The calibration study in ``tune.md`` (and so in ``report.html``): what each point is, every
point with its Δ top-1 and 95% CI, and the chart. A folder that holds only a study gets a page
of its own: there is no search, so no winner, final table or acceptance rule to show."""

from __future__ import annotations

from quantarena.errors import ConfigError
from quantarena.toolchains import parse_variant
from quantarena.tune.study_plan import METHOD_KNOB, calibration_knobs
from quantarena.tune.trials import Score, StudyPoint, TuneRecord


def delta(score: Score) -> tuple[float, float, float]:
    """Δ top-1 vs FP32 in points (negative: a loss) and its 95% CI: the trial score's drop and
    its CI with the sign turned, so that up is better on the chart, as accuracy reads."""
    lo, hi = score.drop_ci95_pp
    return -score.drop_pp + 0.0, -hi + 0.0, -lo + 0.0


def _delta(point: StudyPoint) -> str:
    if point.validation is None:
        return f"{point.status}: {point.reason}"
    d, lo, hi = delta(point.validation)
    return f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _ms(point: StudyPoint) -> str:
    score = point.validation
    return f"{score.latency_p50_ms:.2f}" if score and score.latency_p50_ms is not None else "—"


def method_rank(variant: str, method: str) -> int:
    """Where ``method`` stands among the options the recipe declares (the order the study
    measures and the chart draws them), 0 for a recipe without a method knob."""
    try:
        toolchain, name = parse_variant(variant)
    except ConfigError:  # a variant no longer registered: its points are still shown
        return 0
    choice, _ = calibration_knobs(toolchain.recipes[name])
    options = [str(o) for o in choice.options] if choice is not None else []
    return options.index(method) if method in options else 0


def identical_builds(points: list[StudyPoint]) -> list[tuple[str, str, str, list[int]]]:
    """(variant, method, earlier method, counts): where a method built, byte for byte, the
    model an earlier-declared method built from the same images. Such a method is not a second
    recipe, whatever its name says, and the reader should know it."""
    methods: dict[tuple[str, int, str], list[str]] = {}
    for p in points:
        if p.status == "ok" and p.artifact_sha256 is not None:
            methods.setdefault((p.variant, p.images, p.artifact_sha256), []).append(p.method)
    pairs: dict[tuple[str, str, str], list[int]] = {}
    for (variant, images, _), same in methods.items():
        first, *rest = sorted(set(same), key=lambda m: method_rank(variant, m))
        for method in rest:
            pairs.setdefault((variant, method, first), []).append(images)
    return [(v, m, f, sorted(c)) for (v, m, f), c in pairs.items()]


def repeats(points: list[StudyPoint], variant: str) -> dict[str, str]:
    """Method -> the earlier method whose build it repeated at every count it was measured."""
    counts = {m: {p.images for p in points if p.variant == variant and p.method == m}
              for m in {p.method for p in points if p.variant == variant}}
    return {m: f for v, m, f, same in identical_builds(points)
            if v == variant and set(same) == counts[m]}


def _order(point: StudyPoint, variants: list[str]) -> tuple[int, int, int]:
    rank = variants.index(point.variant) if point.variant in variants else len(variants)
    return rank, method_rank(point.variant, point.method), point.images


def study_section(record: TuneRecord, chart: str | None) -> str:
    """``## Calibration study``: the table of every point, in grid order, and the chart."""
    study = record.study
    assert study is not None
    points = sorted(study.points, key=lambda p: _order(p, study.variants))
    own = [v for v in dict.fromkeys(p.variant for p in points)
           if not any(METHOD_KNOB in p.params for p in points if p.variant == v)]
    head = [
        "## Calibration study",
        f"Each point is one build of the recipe with its `{METHOD_KNOB}` set to the method "
        "shown and its calibration-image count knob (`calibration_images`, `subset_size` for "
        "OpenVINO) set to the count shown — the first images of the calibration split, every "
        "other knob at the recipe's default — measured by the workers a tune trial uses on the "
        f"{record.splits.validation_images} validation images (the evaluation split is not "
        "read). Δ top-1 is the candidate's top-1 minus the FP32 reference's "
        f"({record.reference}) on the same images, in points (negative: a loss), with its "
        "paired-bootstrap 95% CI. p50 comes from a short timing pass (at least 5 calls, "
        "about a second): indicative only; `tune` and `run` time candidates properly."
        + (f" {', '.join(own)} offer{'s' if len(own) == 1 else ''} no method knob: "
           "the one line is the recipe's own calibrator." if own else ""),
    ]
    lines = [
        "| variant | method | images | Δ top-1 pp [95% CI] | p50 ms |",
        "|---|---|---|---|---|",
        *(f"| {p.variant} | {p.method} | {p.images} | {_delta(p)} | {_ms(p)} |"
          for p in points),
    ]
    for v, m, f, c in identical_builds(points):
        lines += ["", f"{v} {m} built the same model as {f}, byte for byte, at "
                  f"{', '.join(map(str, c))} images: the same predictions, not a second "
                  "measurement."]
    if study.unavailable:
        lines += ["", *(f"Not measured here: {v}: {reason}."
                        for v, reason in study.unavailable.items())]
    lines += ["", f"{len(points)} point(s), {study.seconds / 60:.1f} min of building and "
              "measuring" + (f"; budget line at −{study.budget_pp:g} pp (drawn, not applied)"
                             if study.budget_pp is not None else "") + "."]
    if chart:
        lines += ["", f"![Δ top-1 vs calibration images and method]({chart})"]
    return "\n\n".join([*head, "\n".join(lines)])


def study_page(record: TuneRecord, chart: str | None) -> str:
    """``tune.md`` of a folder in which only a study ran."""
    s = record.splits
    top1 = record.reference_validation_top1
    return "\n\n".join([
        f"# quantarena tune --study calibration: {record.config.get('model')}",
        f"Reference: {record.reference} (validation top-1 "
        f"{'—' if top1 is None else f'{top1:.2%}'}). Splits: {s.calibration_images} "
        f"calibration, {s.validation_images} validation, {s.evaluation_images} evaluation "
        "images, disjoint, recorded by hash in tune.json; the study reads the first two only.",
        study_section(record, chart),
    ]) + "\n"
