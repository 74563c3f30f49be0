"""The tune run as Markdown (``tune.md`` and the terminal): the final candidates with their
validation and evaluation drops and CIs, each variant's search beside its plain recipe, the
Pareto set, and the acceptance rule in words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantarena.runner.plan import variant_slug
from quantarena.tune.chart import PARETO_PNG, draw_pareto, draw_sensitivity
from quantarena.tune.html import write_html
from quantarena.tune.study_chart import draw_study
from quantarena.tune.study_table import study_page, study_section
from quantarena.tune.trials import Score, Trial, TuneRecord
from quantarena.tune.vendor_control import reverted_layers

TUNE_MARKDOWN = "tune.md"


def _drop(score: Score | None) -> str:
    if score is None:
        return "—"
    lo, hi = score.drop_ci95_pp
    return f"{_pp(score.drop_pp)} [{_pp(lo)}, {_pp(hi)}]"


def _pp(value: float) -> str:
    """Signed points; a zero loss is "+0.00", never "-0.00"."""
    return f"{value + 0.0:+.2f}"


def _ms(score: Score | None) -> str:
    return f"{score.latency_p50_ms:.2f}" if score and score.latency_p50_ms is not None else "—"


def knobs(trial: Trial, plain: Trial | None) -> str:
    """The knobs this trial moved away from the plain recipe (all of them if there is none)."""
    base: dict[str, Any] = plain.params if plain is not None else {}
    moved = {k: v for k, v in trial.params.items() if base.get(k, object()) != v}
    if not moved:
        return "plain recipe"
    return ", ".join(f"{len(v)} layer(s) in FP32" if isinstance(v, list) else f"{k}={v}"
                     for k, v in moved.items())


def fallback_section(record: TuneRecord, variant: str, chart: str | None) -> str:
    """A variant's layer ranking (top 10) and its fallback trials: which layers each kept in
    FP32, what that bought on validation, and what it cost in speed."""
    ranking = record.sensitivity[variant]
    lines = [
        f"### {variant}: layers kept in floating point",
        f"Ranked on {ranking.images} validation images (builds calibrated on "
        f"{ranking.calibration_images} images), other knobs as the closest trial: "
        f"fully quantized top-1 {ranking.quantized_top1:.2%} vs FP32 {ranking.fp32_top1:.2%} "
        f"({ranking.seconds:.0f} s, one build per layer).",
        "| rank | layer | top-1 regained pp | output error removed |",
        "|---|---|---|---|",
        *(f"| {i} | `{d.layer}` | {_pp(d.top1_gain_pp)} | {d.mse_reduction:.4f} |"
          for i, d in enumerate(ranking.layers[:10], start=1)),
        "",
        "| fallback trial | layers in FP32 | validation drop pp [95% CI] | p50 ms |",
        "|---|---|---|---|",
    ]
    for trial in record.of_variant(variant):
        kept = _layers_kept(trial)
        if kept is not None:
            lines.append(f"| #{trial.number} | {len(kept)}: {', '.join(f'`{k}`' for k in kept)}"
                         f" | {_drop(trial.validation)} | {_ms(trial.validation)} |")
    if variant in record.vendor_control:
        lines += ["", vendor_comparison(record, variant)]
    if chart:
        lines += ["", f"![layer sensitivity of {variant}]({chart})"]
    return "\n".join(lines)


def _layers_kept(trial: Trial) -> list[str] | None:
    return next((v for v in trial.params.values() if isinstance(v, list)), None)


def vendor_comparison(record: TuneRecord, variant: str) -> str:
    """The fallback's smallest passing step (else its last) beside the toolchain's own accuracy
    control on the same splits and budget: layers left in FP32, drops, speed, build time."""
    vendor = record.vendor_control[variant]
    steps = [t for t in record.of_variant(variant) if _layers_kept(t) is not None]
    ours = next((t for t in steps if t.validation and t.validation.drop_pp
                 <= record.max_drop_pp), steps[-1] if steps else None)
    evaluated = {(f.variant, f.number, f.comparison): f.evaluation for f in record.finals}
    lines = [
        f"{vendor.variant} (the toolchain's own accuracy control) on the same calibration and "
        f"validation splits with the same budget ({record.max_drop_pp:g} pp), beside the "
        "fallback:",
        "",
        "| method | layers in FP32 | validation drop pp [95% CI] | evaluation drop pp [95% CI] "
        "| p50 ms | build s |",
        "|---|---|---|---|---|---|",
    ]
    ranking = record.sensitivity.get(variant)
    ranked = f" (+ {ranking.seconds:.0f} ranking the layers)" if ranking is not None else ""
    if ours is not None:
        kept = _layers_kept(ours) or []
        lines.append(
            f"| fallback #{ours.number} | {len(kept)} | {_drop(ours.validation)} | "
            f"{_drop(evaluated.get((ours.variant, ours.number, False)))} | "
            f"{_ms(ours.validation)} | {_build_seconds(ours)}{ranked} |")
    if vendor.validation is None:
        lines.append(f"| {vendor.variant} | — | {vendor.status}: {vendor.reason} | — | — | — |")
    else:
        reverted = reverted_layers(vendor)
        lines.append(
            f"| {vendor.variant} | {len(reverted)}"
            f"{': ' + ', '.join(f'`{k}`' for k in reverted) if reverted else ''} | "
            f"{_drop(vendor.validation)} | "
            f"{_drop(evaluated.get((vendor.variant, vendor.number, True)))} | "
            f"{_ms(vendor.validation)} | {_build_seconds(vendor)} |")
    return "\n".join(lines)


def _build_seconds(trial: Trial) -> str:
    build = trial.row.build if trial.row is not None else None
    return f"{build.seconds:.1f}" if build is not None else "—"


def _plain(record: TuneRecord, variant: str) -> Trial | None:
    return next((t for t in record.of_variant(variant) if t.number == 0), None)


def final_table(record: TuneRecord) -> str:
    ref_ms = record.reference_latency_p50_ms
    lines = [
        "| candidate | chosen as | knobs | validation drop pp [95% CI] | "
        "evaluation drop pp [95% CI] | p50 ms (val / eval) | speed-up vs FP32 reference |",
        "|---|---|---|---|---|---|---|",
    ]
    for final in record.finals:
        trial = record.trial_of(final)
        v, e = final.validation, final.evaluation
        speed = (f"{ref_ms / v.latency_p50_ms:.2f}×"
                 if ref_ms and v.latency_p50_ms else "—")
        star = " **(overall)**" if record.overall == (final.variant, final.number) else ""
        lines.append(
            f"| {final.variant} #{final.number}{star} | {final.role} | "
            f"{knobs(trial, _plain(record, final.variant))} | {_drop(v)} | {_drop(e)} | "
            f"{_ms(v)} / {_ms(e)} | {speed} |"
        )
    return "\n".join(lines)


def search_table(record: TuneRecord) -> str:
    lines = [
        "| variant | trials | accepted | plain recipe drop pp (val) | best drop pp (val) | "
        "stopped |",
        "|---|---|---|---|---|---|",
    ]
    for variant in dict.fromkeys([t.variant for t in record.trials] + list(record.stopped)):
        trials = record.of_variant(variant)
        scored = [t for t in trials if t.validation is not None and t.reused_from is None]
        passing = [t for t in scored if t.validation and t.validation.drop_pp
                   <= record.max_drop_pp]
        plain = _plain(record, variant)
        best = min((t.validation.drop_pp for t in scored if t.validation), default=None)
        lines.append(
            f"| {variant} | {len(trials)} | {len(passing)} | "
            f"{_drop(plain.validation if plain else None)} | "
            f"{'—' if best is None else _pp(best)} | {record.stopped.get(variant, '')} |"
        )
    return "\n".join(lines)


def verdict(record: TuneRecord) -> str:
    if record.overall is None:
        return (f"No candidate met the budget of {record.max_drop_pp:g} pp on the validation "
                "split; the closest per toolchain are shown, marked as missing it.")
    variant, number = record.overall
    return (f"Fastest candidate within {record.max_drop_pp:g} pp: {variant} #{number} "
            f"(trial folder {record.trial(record.overall).folder}).")


def render(record: TuneRecord, *, chart: bool = False,
           charts: dict[str, str] | None = None, study_chart: str | None = None) -> str:
    if record.study is not None and not record.trials:
        return study_page(record, study_chart)
    charts = charts or {}
    s = record.splits
    pareto = ", ".join(f"{v} #{n}" for v, n in record.pareto) or "—"
    return "\n\n".join([
        f"# quantarena tune: {record.config.get('model')} within {record.max_drop_pp:g} pp",
        verdict(record),
        final_table(record),
        "## Search\n\n" + search_table(record),
        f"Accuracy/latency Pareto set (validation): {pareto}"
        + (f"\n\n![accuracy vs latency of every trial]({PARETO_PNG})" if chart else ""),
        f"Reference: {record.reference} (validation top-1 "
        f"{(record.reference_validation_top1 or 0):.2%}, evaluation top-1 "
        f"{(record.reference_evaluation_top1 or 0):.2%}). Splits: {s.calibration_images} "
        f"calibration, {s.validation_images} validation, {s.evaluation_images} evaluation "
        "images, disjoint, recorded by hash in tune.json.",
        f"Acceptance rule: {record.acceptance_rule}",
        *(fallback_section(record, v, charts.get(v)) for v in record.sensitivity),
        *([study_section(record, study_chart)] if record.study is not None else []),
    ]) + "\n"


def write_markdown(record: TuneRecord, out: Path) -> Path:
    """``tune.md`` and ``report.html`` (the same, one self-contained page) and, when any trial
    was timed, the accuracy/latency chart they show."""
    chart = draw_pareto(record, out) is not None
    charts = {}
    for variant, ranking in record.sensitivity.items():
        name = f"tune-sensitivity-{variant_slug(variant)}.png"
        if draw_sensitivity(ranking, out / name) is not None:
            charts[variant] = name
    path = out / TUNE_MARKDOWN
    study_chart = draw_study(record, out)
    markdown = render(record, chart=chart, charts=charts,
                      study_chart=study_chart.name if study_chart is not None else None)
    path.write_text(markdown)
    write_html(markdown, out)
    return path
