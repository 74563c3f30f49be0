"""``quantarena tune`` end to end: settle the run (``setup``), measure the FP32 reference on the
validation split, search each variant's space (``strategy``), choose (``select``), and only then
touch the evaluation split, once, for the chosen candidates.

The evaluation images are not even preprocessed until every choice is made: no trial, no
reference measurement and no decision can read a file that does not exist yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from quantarena.config import RunConfig
from quantarena.data.cache import cache_split
from quantarena.data.dataset import check_labels, discover
from quantarena.errors import ConfigError, QuantarenaError
from quantarena.measure.accuracy import Predictions
from quantarena.runner.folder import in_use
from quantarena.runner.interrupt import RunInterrupted, stop_signals
from quantarena.runner.launcher import Launcher
from quantarena.runner.pipeline import _usable_samples
from quantarena.runner.plan import variant_slug
from quantarena.toolchains import Recipe, parse_variant
from quantarena.tune import select
from quantarena.tune.fallback import (
    fallback_points,
    layer_ranking,
    needs_fallback,
    run_fallback,
)
from quantarena.tune.measure import CandidateMeter
from quantarena.tune.setup import (
    TuneSettings,
    check_same_setup,
    open_tune_out,
    prepare_bundle,
    reference_variant,
)
from quantarena.tune.splits import TuneSplits, split_three
from quantarena.tune.strategy import SearchLimits, search
from quantarena.tune.study import announce, run_study
from quantarena.tune.trials import Final, Score, Trial, TrialStatus, TuneRecord, save_record
from quantarena.tune.vendor_control import reverted_layers, run_vendor_control, twin_of

Log = Callable[[str], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def toolchain_of(variant: str) -> str:
    return variant.split(":", 1)[0]


class TuneInterrupted(RunInterrupted):
    """A tune run stopped by a signal; ``record`` holds every trial saved before it."""

    record: TuneRecord | None = None


def run_tune(config: RunConfig, settings: TuneSettings, log: Log = print) -> TuneRecord:
    """Search, choose, evaluate; ``tune.json`` is saved after every trial. Rerunning with the same
    ``--out`` continues the search and reuses every trial already measured. With
    ``settings.study`` the study runs instead of the search (``tune/study.py``)."""
    if settings.study is not None:  # its grid is refused in one line before anything runs
        log(announce(settings.study, settings.variants, config))
    settings.check()
    config = config.resolved()
    assert config.out is not None
    out = config.out.resolve()
    _, samples = discover(config.data)
    earlier = open_tune_out(out, log)
    with in_use(out), stop_signals() as stop:
        launcher = Launcher.from_config(config, out / "logs", stop)
        bundle = prepare_bundle(config, out, launcher, log)
        check_labels(samples, bundle.num_classes)
        samples, skipped = _usable_samples(samples, bundle, config.on_bad_image, log)
        splits = split_three(samples, config.calibration_images, settings.validation_images,
                             config.eval_images, config.seed)
        # settled before any image is preprocessed: a mismatched rerun is refused at once
        record = _start(earlier, config, settings, splits, reference_variant(bundle), out)
        record.notes = [f"skipped unreadable image {line}" for line in skipped]

        def cache(name: str) -> Path:
            images = getattr(splits, name)
            with stop.interruptible():
                return cache_split(images, bundle.preprocessing, config.cache_dir, name,
                                   config.threads, log=log)

        def calibration_and_validation() -> Path:
            """For a vendor's accuracy control: it calibrates on the first images, validates on
            the rest (tune's own validation split)."""
            with stop.interruptible():
                return cache_split([*splits.calibration, *splits.validation],
                                   bundle.preprocessing, config.cache_dir,
                                   "calibration+validation", config.threads, log=log)

        try:
            calibration, validation = cache("calibration"), cache("validation")
            meter = CandidateMeter(config, bundle, out / "fp32" / "bundle.json", calibration,
                                   stop, log=lambda line: tqdm.write(line))
            _reference(record, meter, out, validation, log)
            if settings.study is not None:
                return run_study(record, settings.study, settings.variants, meter, out,
                                 validation, log)
            _search(record, settings, meter, out, validation, len(splits.calibration), log,
                    calibration_and_validation)
            _finish(record, settings, meter, out, lambda: cache("evaluation"), log)
        except RunInterrupted as exc:
            save_record(record, out)
            raise _interrupted(exc, record) from None
        return record


def _interrupted(exc: RunInterrupted, record: TuneRecord) -> TuneInterrupted:
    stopped = TuneInterrupted(exc.signum)
    stopped.record = record
    return stopped


def _start(earlier: TuneRecord | None, config: RunConfig, settings: TuneSettings,
           splits: TuneSplits, reference: str, out: Path) -> TuneRecord:
    if earlier is not None:
        check_same_setup(earlier, config, splits.record(), out)
        if earlier.reference != reference:
            raise ConfigError(f"--out {out} was tuned against {earlier.reference}; "
                              f"{reference} is the reference now: pass a new --out")
        if settings.study is not None:  # a study adds its section; a search's result stays
            return earlier.model_copy(update={"config": config.model_dump(mode="json")})
        return earlier.model_copy(update={
            "max_drop_pp": settings.max_drop_pp, "finished_at": None,
            "config": config.model_dump(mode="json"),
        })
    return TuneRecord(
        started_at=_now(), config=config.model_dump(mode="json"),
        max_drop_pp=settings.max_drop_pp, acceptance_rule=select.ACCEPTANCE_RULE,
        splits=splits.record(), reference=reference,
    )


def _reference(record: TuneRecord, meter: CandidateMeter, out: Path, validation: Path,
               log: Log) -> None:
    """The FP32 reference on the validation split: measured once, reused on a rerun."""
    row = record.reference_row
    if row is not None and row.predictions_file and (out / "reference" / row.predictions_file
                                                      ).exists():
        meter.reference = Predictions.load(out / "reference" / row.predictions_file)
        return
    log(f"measuring the FP32 reference {record.reference} on the validation split ...")
    toolchain, name = parse_variant(record.reference)
    row = meter.measure(record.reference, toolchain.parse_recipe(name), out / "reference",
                        validation, is_reference=True)
    if row.status != "ok" or row.accuracy is None:
        raise ConfigError(f"the FP32 reference {record.reference} could not be measured: "
                          f"{row.reason}")
    record.reference_row = row
    record.reference_validation_top1 = row.accuracy.top1
    record.reference_latency_p50_ms = row.latency_ms.p50 if row.latency_ms else None
    save_record(record, out)


def _search(record: TuneRecord, settings: TuneSettings, meter: CandidateMeter, out: Path,
            validation: Path, calibration_images: int, log: Log,
            calibration_and_validation: Callable[[], Path]) -> None:
    start = time.monotonic()
    total = len(settings.variants) * settings.max_trials
    done = sum(len(record.of_variant(v)) for v in settings.variants)
    with tqdm(total=total, initial=min(done, total), desc="trials", unit="trial") as bar:

        def measure(variant: str, recipe: Recipe, number: int, params: dict[str, Any]) -> Trial:
            folder = out / "trials" / variant_slug(variant) / f"{number:03d}"
            bar.set_postfix_str(f"{variant} #{number}")
            began = time.monotonic()
            row = meter.measure(variant, recipe, folder, validation)
            score = Score.of(row) if row.status == "ok" else None
            status: TrialStatus = "ok" if score is not None else (
                "unavailable" if row.status == "unavailable" else "failed")
            reason = row.reason if row.status != "ok" else (
                None if score is not None else "measured without a comparison with the reference")
            return Trial(
                variant=variant, number=number, params=params, status=status, reason=reason,
                folder=folder.relative_to(out).as_posix(), seconds=time.monotonic() - began,
                validation=score, row=row,
            )

        def keep(trial: Trial) -> None:
            record.trials.append(trial)
            save_record(record, out)
            bar.update(1)
            tqdm.write(_trial_line(trial, settings.max_drop_pp))

        def number_of(variant: str) -> Callable[[], int]:
            return lambda: len(record.of_variant(variant))

        for index, variant in enumerate(settings.variants):
            toolchain, name = parse_variant(variant)
            problem = toolchain.unavailable(name, meter.bundle)
            if problem is not None:
                record.stopped[variant] = f"unavailable: {problem.reason}"
                bar.update(settings.max_trials)
                continue
            share = settings.time_budget_s * (index + 1) / len(settings.variants)
            limits = SearchLimits(settings.max_trials, start + share, settings.max_drop_pp,
                                  seed=record.config.get("seed", 0))
            knob = toolchain.recipes[name].layer_knob
            searched = [t for t in record.of_variant(variant) if knob not in t.params]
            stopped = search(variant, calibration_images, searched, limits, measure, keep,
                             number_of(variant))
            base = needs_fallback(variant, record.of_variant(variant), settings.max_drop_pp)
            if base is not None and time.monotonic() < start + settings.time_budget_s:
                try:
                    ranking = layer_ranking(record, variant, base, meter, out, validation)
                except QuantarenaError as exc:
                    record.stopped[variant] = f"{stopped}; no fallback: {exc}"
                    save_record(record, out)
                    continue
                bar.total = (bar.total or 0) + len(fallback_points(base, str(knob),
                                                                   ranking.ranked()))
                stopped += "; " + run_fallback(
                    variant, base, ranking, record.of_variant(variant),
                    max_drop_pp=settings.max_drop_pp, deadline=start + settings.time_budget_s,
                    measure=lambda v, r, _n, p: measure(v, r, number_of(v)(), p),
                    record=keep,
                )
                stopped += _compare_with_vendor(
                    record, variant, base, settings, meter, out, validation,
                    calibration_and_validation, start + settings.time_budget_s,
                )
            record.stopped[variant] = stopped
            save_record(record, out)
    log(f"searched {len(record.trials)} trial(s); evaluating the chosen candidates ...")


def _compare_with_vendor(record: TuneRecord, variant: str, base: Trial, settings: TuneSettings,
                         meter: CandidateMeter, out: Path, validation: Path,
                         calibration_and_validation: Callable[[], Path], deadline: float) -> str:
    """The toolchain's own accuracy control on the same splits and budget, beside the fallback
    (once: a rerun reuses a measured one). Returns what to add to the variant's ``stopped``."""
    twin = twin_of(variant)
    earlier = record.vendor_control.get(variant)
    if twin is None or (earlier is not None and earlier.status == "ok"):
        return ""
    if time.monotonic() >= deadline:
        return f"; {twin} not compared: the time budget was spent"
    tqdm.write(f"  {variant}: {twin} on the same splits and budget, for comparison ...")
    trial = run_vendor_control(
        variant, base, max_drop_pp=settings.max_drop_pp,
        validation_images=record.splits.validation_images, meter=meter,
        calibration_and_validation=calibration_and_validation, validation=validation, out=out,
    )
    record.vendor_control[variant] = trial
    save_record(record, out)
    tqdm.write(_trial_line(trial, settings.max_drop_pp)
               + (f", {len(reverted_layers(trial))} layer(s) reverted to FP32"
                  if trial.validation is not None else ""))
    return ""


def _trial_line(trial: Trial, max_drop_pp: float) -> str:
    shown = {k: f"{len(v)} layer(s) in FP32" if isinstance(v, list) else v
             for k, v in trial.params.items()}
    head = f"  {trial.variant} #{trial.number} {shown}"
    if trial.validation is None:
        return f"{head}: {trial.status}: {trial.reason}"
    v = trial.validation
    speed = f", p50 {v.latency_p50_ms:.2f} ms" if v.latency_p50_ms is not None else ""
    verdict = "meets" if select.accepted(trial, max_drop_pp) else "misses"
    again = f" (same knobs as #{trial.reused_from})" if trial.reused_from is not None else ""
    return f"{head}: drop {v.drop_pp + 0.0:+.2f} pp{speed}: {verdict} the budget{again}"


def _finish(record: TuneRecord, settings: TuneSettings, meter: CandidateMeter, out: Path,
            evaluation_split: Callable[[], Path], log: Log) -> None:
    """Choose from validation scores, then measure the chosen on the evaluation split once."""
    chosen = [t for t in record.trials if t.variant in settings.variants]
    choices, overall = select.choose(chosen, settings.max_drop_pp, toolchain_of)
    record.pareto = [t.key for t in select.pareto(chosen)]
    record.overall = overall.trial.key if overall is not None else None
    kept = {(f.variant, f.number): f for f in record.finals
            if f.evaluation is not None and not f.comparison}
    finals = [kept.get(c.trial.key) or Final(
        variant=c.trial.variant, number=c.trial.number, role=c.role,
        meets_budget=c.meets_budget, validation=c.trial.validation,
    ) for c in choices if c.trial.validation is not None]
    record.finals = [f.model_copy(update={"role": c.role, "meets_budget": c.meets_budget})
                     for f, c in zip(finals, choices, strict=True)]
    record.finals += comparison_finals(record, settings.max_drop_pp)
    save_record(record, out)
    if any(f.evaluation is None for f in record.finals):
        evaluation = evaluation_split()
        reference = _reference_on_evaluation(record, meter, out, evaluation)
        for index, final in enumerate(record.finals):
            if final.evaluation is not None:
                continue
            trial = record.trial_of(final)
            assert trial.row is not None
            folder = out / "final" / f"{variant_slug(final.variant)}-{final.number:03d}"
            log(f"  evaluating {final.variant} #{final.number} ({final.role}) ...")
            _, score = meter.evaluate(trial.row, out / trial.folder, folder, evaluation, reference)
            record.finals[index] = final.model_copy(update={"evaluation": score})
            save_record(record, out)
    record.finished_at = _now()
    save_record(record, out)


def comparison_finals(record: TuneRecord, max_drop_pp: float) -> list[Final]:
    """The vendors' accuracy controls, evaluated beside the chosen candidates (an evaluation
    measured before is kept)."""
    earlier = {f.variant: f for f in record.finals if f.comparison and f.evaluation is not None}
    finals = []
    for variant, trial in record.vendor_control.items():
        if trial.validation is None:
            continue
        finals.append(earlier.get(trial.variant) or Final(
            variant=trial.variant, number=trial.number,
            role=f"{trial.variant.split(':', 1)[1]} beside the fallback of {variant} (same "
                 "splits and budget; compared, never chosen)",
            meets_budget=select.accepted(trial, max_drop_pp), validation=trial.validation,
            comparison=True,
        ))
    return finals


def _reference_on_evaluation(record: TuneRecord, meter: CandidateMeter, out: Path,
                             evaluation: Path) -> Predictions:
    path = out / "final" / "reference" / "predictions.npz"
    if path.exists() and record.reference_evaluation_top1 is not None:
        return Predictions.load(path)
    assert record.reference_row is not None
    predictions, _ = meter.evaluate(record.reference_row, out / "reference", path.parent,
                                    evaluation, None)
    record.reference_evaluation_top1 = float(predictions.correct_top1.mean())
    save_record(record, out)
    return predictions
