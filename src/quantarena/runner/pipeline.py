"""The orchestrator: prepare the FP32 bundle and the data once, then build and measure every
variant in its own worker processes, saving results after each one. Imports no runtime itself."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from quantarena import __version__
from quantarena.config import RunConfig
from quantarena.data.cache import cache_split
from quantarena.data.dataset import Sample, discover
from quantarena.data.preprocess import load_image
from quantarena.data.split import list_sha256, split_samples
from quantarena.errors import DataError, ModelError
from quantarena.models.spec import ModelBundle
from quantarena.results.environment import fingerprint
from quantarena.results.io import save_results
from quantarena.results.schema import DatasetInfo, ModelInfo, Results, Tool, VariantResult
from quantarena.runner.jobs import PrepareJob
from quantarena.runner.launcher import Launcher
from quantarena.runner.plan import baseline_of, choose_reference, plan_variants, run_order
from quantarena.runner.variant import SplitFiles, VariantRunner

Log = Callable[[str], None]


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


def run_benchmark(config: RunConfig, log: Log = print) -> Results:
    """Run every variant of ``config``; results are saved after each one (``results.json``)."""
    config = config.resolved()
    planned = plan_variants(config)
    layout, samples = discover(config.data)
    assert config.out is not None  # resolved() always sets it
    out = config.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = _now()
    launcher = Launcher.from_config(config, out / "logs")
    bundle = _prepare_bundle(config, out, launcher, log)
    samples, skipped = _usable_samples(samples, bundle, config.on_bad_image, log)
    split = split_samples(samples, config.calibration_images, config.eval_images, config.seed)
    log(
        f"preprocessing {len(split.calibration)} calibration + {len(split.evaluation)} evaluation "
        "images ..."
    )
    files = SplitFiles(
        bundle=out / "fp32" / "bundle.json",
        calibration=cache_split(
            split.calibration, bundle.preprocessing, config.cache_dir, "calibration", config.threads
        ),
        evaluation=cache_split(
            split.evaluation, bundle.preprocessing, config.cache_dir, "evaluation", config.threads
        ),
    )
    reference_name = choose_reference(planned)
    results = Results(
        tool=Tool(version=__version__),
        started_at=started,
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
        ),
        reference=reference_name,
    )
    if results.environment.load_warning:
        log(f"warning: {results.environment.load_warning}; numbers may be skewed")
    shutil.copyfile(files.calibration.with_suffix(".json"), out / "calibration_split.json")
    shutil.copyfile(files.evaluation.with_suffix(".json"), out / "evaluation_split.json")
    save_results(results, out)
    runner = VariantRunner(
        config=config, launcher=launcher, bundle=bundle, out=out, files=files, log=log
    )
    by_name: dict[str, VariantResult] = {}
    ordered = run_order(planned, reference_name)
    for index, p in enumerate(ordered, start=1):
        log(f"[{index}/{len(ordered)}] {p.name}")
        by_name[p.name] = runner.run(
            p, baseline_of(p, planned), is_reference=p.name == reference_name
        )
        results.variants = [by_name[v] for v in config.variants if v in by_name]
        save_results(results, out)
    results.finished_at = _now()
    save_results(results, out)
    return results
