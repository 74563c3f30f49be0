"""The orchestrator: prepare the FP32 bundle and the data once, then build and measure every
variant in its own worker processes, saving results after each one. Imports no runtime itself.

``results.json`` always lists every planned variant: a variant not measured yet is a ``not_run``
row, so a run stopped in any way (Ctrl-C, SIGTERM, SIGKILL, a full disk) leaves a file that says
what is missing, and ``--resume`` measures exactly that.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from quantarena import __version__
from quantarena.config import RunConfig
from quantarena.data.cache import cache_split
from quantarena.data.dataset import Sample, check_labels, discover, ignored_folders
from quantarena.data.notes import read_image_notes
from quantarena.data.preprocess import load_image
from quantarena.data.split import list_sha256, split_samples
from quantarena.errors import ConfigError, DataError, ModelError, OutputError
from quantarena.measure.accuracy import Predictions
from quantarena.models.spec import ModelBundle
from quantarena.outdir import NO_ROOM
from quantarena.results.environment import fingerprint
from quantarena.results.interleaved import Interleaved
from quantarena.results.io import save_results
from quantarena.results.schema import DatasetInfo, ModelInfo, Results, Tool, VariantResult
from quantarena.runner.folder import OutMode, in_use, open_out
from quantarena.runner.interleave import Phase
from quantarena.runner.interrupt import RunInterrupted, Stop, stop_signals
from quantarena.runner.jobs import PrepareJob
from quantarena.runner.launcher import Launcher
from quantarena.runner.plan import (
    PlannedVariant,
    baseline_of,
    choose_reference,
    plan_variants,
    run_order,
)
from quantarena.runner.resume import check_config, check_setup, kept_rows, merged, reusable_bundle
from quantarena.runner.shared_inputs import SharedInputs
from quantarena.runner.timeline import Timeline, capped_passes
from quantarena.runner.variant import SplitFiles, VariantRunner, not_run_row

Log = Callable[[str], None]
#: the reason on a planned variant's row until it is measured
PENDING = "not measured yet: the run was still going, or was stopped, before it"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _usable_samples(
    samples: list[Sample], bundle: ModelBundle, mode: str, log: Log
) -> tuple[list[Sample], list[str]]:
    """In ``skip`` mode drop unreadable images up front (listed in the results); in ``error``
    mode the cache step stops at the first one with its file name."""
    if mode != "skip":
        return samples, []
    good, bad = [], []
    for sample in samples:
        try:
            load_image(sample.path, bundle.preprocessing)
            good.append(sample)
        except DataError as exc:
            bad.append(f"{sample.name}: {exc}")
    if bad:
        log(f"skipping {len(bad)} unreadable image(s), listed in results.json")
    return good, bad


def _prepare_bundle(config: RunConfig, out: Path, launcher: Launcher, log: Log) -> ModelBundle:
    log(f"preparing {config.model} (weights: {config.weights}) and its ONNX export ...")
    job = PrepareJob(
        model=config.model,
        weights=config.weights,
        workdir=out / "fp32",
        seed=config.seed,
        input_size=config.input_size,
        resize=config.resize,
        mean=config.mean,
        std=config.std,
    )
    outcome = launcher.run(job, "prepare")
    if outcome.status != "ok" or outcome.result is None:
        raise ModelError(outcome.reason or "model preparation failed")
    return ModelBundle.load(outcome.result.bundle)


@dataclass
class _Progress:
    """What the run holds so far, so that however it stops, what exists is written out."""

    planned: list[PlannedVariant]
    out: Path
    results: Results | None = None
    rows: dict[str, VariantResult] = field(default_factory=dict)

    def save(self, pending: str = PENDING) -> None:
        if self.results is None:
            return
        self.results.variants = [
            self.rows.get(p.name) or not_run_row(p, pending) for p in self.planned
        ]
        save_results(self.results, self.out)


def prepare_once(config: RunConfig, out: Path, log: Log = print) -> SharedInputs:
    """The FP32 bundle and the cached splits, prepared as a run prepares them, for runs on other
    machines (a cluster's nodes) to measure from: every platform then measures the same export
    on the same preprocessed images."""
    config = config.resolved()
    planned = plan_variants(config)
    data = discover(config.data)
    out.mkdir(parents=True, exist_ok=True)
    bundle = _prepare_bundle(config, out, Launcher.from_config(config, out / "logs"), log)
    files, header = _prepare_data(
        config, data, planned, bundle, choose_reference(planned), out, log
    )
    return SharedInputs(files=files, header=header, split_lists=out)


def run_benchmark(
    config: RunConfig,
    log: Log = print,
    *,
    mode: OutMode = "new",
    shared: SharedInputs | None = None,
) -> Results:
    """Run every variant of ``config``; results are saved after each one (``results.json``).

    ``mode`` says what to do with an output folder that is not empty: refuse (``new``), finish
    the run in it (``resume``) or empty it first (``overwrite``). SIGINT/SIGTERM raise
    ``RunInterrupted`` once the variants not measured are saved as ``not_run`` rows; the exception
    carries those results. ``shared``: the bundle and splits prepared elsewhere (``prepare_once``)
    are measured from instead of preparing them here.
    """
    if mode == "resume" and config.out is None:
        raise ConfigError("--resume needs --out DIR: the folder of the run to finish")
    config = config.resolved()
    planned = plan_variants(config)
    reference = choose_reference(planned)
    # a missing or mislabeled folder fails before anything is touched
    data = discover(config.data) if shared is None else ("shared", [])
    assert config.out is not None  # resolved() always sets it
    out = config.out.resolve()
    earlier = open_out(out, mode, log)
    if earlier is not None:
        check_config(earlier, config, reference, out)
    progress = _Progress(planned, out)
    with in_use(out), stop_signals() as stop:
        try:
            return _run(config, data, progress, earlier, reference, stop, log, shared)
        except RunInterrupted as exc:
            progress.save(f"interrupted by {exc.name} before it was measured")
            exc.results, exc.out = progress.results, out
            raise
        except OSError as exc:
            # results.json is replaced atomically: its last complete version is still there, and
            # the half-written temporary file beside it is of no use to anyone.
            (out / f"results.{os.getpid()}.tmp").unlink(missing_ok=True)
            if exc.errno in NO_ROOM:
                raise OutputError(
                    f"cannot write to {out}: {exc.strerror}; its results.json keeps every "
                    "variant saved before"
                ) from exc
            raise


def _run(
    config: RunConfig,
    data: tuple[str, list[Sample]],
    progress: _Progress,
    earlier: Results | None,
    reference: str | None,
    stop: Stop,
    log: Log,
    shared: SharedInputs | None = None,
) -> Results:
    out, planned = progress.out, progress.planned
    started = _now()
    launcher = Launcher.from_config(config, out / "logs", stop)
    timeline = Timeline()
    bundle = reusable_bundle(out) if earlier is not None else None
    if shared is not None:  # prepared once elsewhere (a cluster's driver) and shipped here
        bundle, files = shared.bundle(), shared.files
        results = shared.header_here(config, planned, out)
    else:
        if bundle is None:
            with timeline.part("prepare", "model"):
                bundle = _prepare_bundle(config, out, launcher, log)
        with stop.interruptible(), timeline.part("prepare", "data"):
            files, results = _prepare_data(config, data, planned, bundle, reference, out, log)
    results.started_at = started
    if earlier is not None:
        check_setup(earlier, results, out)
        results = merged(earlier, results)
        results.interleaved = None  # timed again in full once every row is there
    if results.environment.load_warning:
        log(f"warning: {results.environment.load_warning}; numbers may be skewed")
    progress.results = results
    runner = VariantRunner(
        config=config, launcher=launcher, bundle=bundle, out=out, files=files, log=log,
        timeline=timeline,
    )
    kept = kept_rows(earlier, out) if earlier is not None else {}
    progress.rows = {
        p.name: kept[p.name].model_copy(update={"baseline": baseline_of(p, planned)})
        for p in planned
        if p.name in kept
    }
    if reference in kept and kept[reference].predictions_file:
        # Later rows still get their paired comparison with the reference measured earlier.
        runner.reference = Predictions.load(out / str(kept[reference].predictions_file))
    todo = [p for p in run_order(planned, reference) if p.name not in kept]
    if earlier is not None:
        log(f"resuming: {len(kept)} of {len(planned)} variants kept, {len(todo)} to measure")
    progress.save()
    for index, p in enumerate(todo, start=1):
        log(f"[{index}/{len(todo)}] {p.name}")
        row = runner.run(p, baseline_of(p, planned), is_reference=p.name == reference)
        progress.rows[p.name] = row
        if p.name == reference and row.status == "ok" and kept:
            for name in kept:
                progress.rows[name] = runner.recompare(progress.rows[name])
        progress.save()
        stop.check()
    results.interleaved = _interleave(config, launcher, files, progress, reference, log)
    if results.interleaved is not None:
        timeline.add("interleaved rounds", "loading workers", results.interleaved.load_seconds)
        timeline.add("interleaved rounds", "rounds", results.interleaved.seconds)
    results.finished_at = _now()
    progress.save()
    rounds_stop = results.interleaved.stop_reason if results.interleaved is not None else None
    loading = results.interleaved.loading_line() if results.interleaved is not None else None
    for line in [*timeline.lines(), *([f"  {loading}"] if loading else []),
                 *capped_passes(progress.rows.values(), rounds_stop, config.measure)]:
        log(line)
    return results


def _interleave(
    config: RunConfig,
    launcher: Launcher,
    files: SplitFiles,
    progress: _Progress,
    reference: str | None,
    log: Log,
) -> Interleaved | None:
    """The interleaved rounds over every variant that measured speed (kept rows included); a
    stop signal keeps what the rounds timed so far in the results it saves."""
    assert progress.results is not None
    planned = progress.planned
    phase = Phase(config=config, launcher=launcher, evaluation=files.evaluation,
                  out=progress.out, log=log)
    try:
        return phase.run(planned, progress.rows, reference,
                         {p.name: baseline_of(p, planned) for p in planned})
    except RunInterrupted:
        progress.results.interleaved = phase.partial
        raise


def _prepare_data(
    config: RunConfig,
    data: tuple[str, list[Sample]],
    planned: list[PlannedVariant],
    bundle: ModelBundle,
    reference: str | None,
    out: Path,
    log: Log,
) -> tuple[SplitFiles, Results]:
    """Split and cache the images; the results' header (machine, model, data) without rows."""
    layout, samples = data
    if bundle.pretrained:  # with random weights no accuracy is measured: any labels will do
        check_labels(samples, bundle.num_classes)
    ignored = ignored_folders(config.data)
    if ignored:
        log(f"ignoring {len(ignored)} non-wnid folder(s): {', '.join(ignored)}")
    samples, skipped = _usable_samples(samples, bundle, config.on_bad_image, log)
    split = split_samples(samples, config.calibration_images, config.eval_images, config.seed)
    log(
        f"preprocessing {len(split.calibration)} calibration + {len(split.evaluation)} evaluation "
        "images ..."
    )
    files = SplitFiles(
        bundle=out / "fp32" / "bundle.json",
        calibration=cache_split(
            split.calibration, bundle.preprocessing, config.cache_dir, "calibration",
            config.threads, log=log,
        ),
        evaluation=cache_split(
            split.evaluation, bundle.preprocessing, config.cache_dir, "evaluation",
            config.threads, log=log,
        ),
    )
    image_notes = read_image_notes([files.calibration, files.evaluation])
    for name, path in (("calibration", files.calibration), ("evaluation", files.evaluation)):
        target = out / f"{name}_split.json"
        if not target.exists():  # on resume: the same list (its hash is checked)
            shutil.copyfile(path.with_suffix(".json"), target)
    results = Results(
        tool=Tool(version=__version__),
        started_at=_now(),
        config=config.model_dump(mode="json"),
        environment=fingerprint(
            config.threads,
            config.pin_cpus,
            sorted({pkg for p in planned for pkg in p.toolchain.packages}),
        ),
        model=ModelInfo(
            name=bundle.name,
            source=bundle.source,
            weights=bundle.weights,
            pretrained=bundle.pretrained,
            input_shape=list(bundle.input_shape),
            preprocessing=bundle.to_json()["preprocessing"],
            notes=list(bundle.notes),
        ),
        dataset=DatasetInfo(
            name=config.data.name,
            root=str(config.data.resolve()),
            layout=layout,
            eval_images=len(split.evaluation),
            calibration_images=len(split.calibration),
            eval_list_sha256=list_sha256(split.evaluation),
            calibration_list_sha256=list_sha256(split.calibration),
            seed=config.seed,
            skipped_images=skipped,
            image_notes=image_notes.lines,
            image_notes_count=image_notes.count,
            ignored_folders=ignored,
        ),
        reference=reference,
        warnings=config.warnings(),
    )
    return files, results
