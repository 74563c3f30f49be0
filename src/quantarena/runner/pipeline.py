"""The orchestrator: prepare the FP32 bundle and the data once, then build and measure every
variant in its own worker processes, saving results after each one. Imports no runtime itself."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from quantarena import __version__
from quantarena.config import RunConfig
from quantarena.data.cache import cache_split
from quantarena.data.dataset import Sample, discover
from quantarena.data.preprocess import load_image
from quantarena.data.split import list_sha256, split_samples
from quantarena.errors import DataError, ModelError
from quantarena.measure.accuracy import Predictions, accuracy_summary
from quantarena.models.spec import ModelBundle
from quantarena.results.environment import fingerprint
from quantarena.results.io import save_results
from quantarena.results.schema import DatasetInfo, ModelInfo, Results, Tool, VariantResult
from quantarena.runner.isolate import run_isolated
from quantarena.runner.jobs import BuildJob, MeasureJob, PrepareJob
from quantarena.runner.plan import PlannedVariant, choose_reference, plan_variants, run_order

Log = Callable[[str], None]

#: A latency drift (second half vs first half of the window) above this earns a note on the row.
DRIFT_NOTE_PCT = 5.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _usable_samples(samples: list[Sample], bundle: ModelBundle, mode: str, log: Log) -> tuple[list[Sample], list[str]]:
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


def _prepare_bundle(config: RunConfig, out: Path, log: Log) -> ModelBundle:
    log(f"preparing {config.model} (weights: {config.weights}) and its ONNX export ...")
    job = PrepareJob(
        model=config.model, weights=config.weights, workdir=out / "fp32", seed=config.seed,
        input_size=config.input_size, resize=config.resize, mean=config.mean, std=config.std,
    )
    outcome = run_isolated(job, out / "logs", "prepare", config.threads, config.pin_cpus, config.build_timeout, config.malloc)
    if outcome.status != "ok":
        raise ModelError(outcome.reason or "model preparation failed")
    return ModelBundle.load(Path(outcome.result["bundle"]))


def _unavailable(p: PlannedVariant, reason: str, status: str = "unavailable") -> VariantResult:
    return VariantResult(
        name=p.name, toolchain=p.toolchain.name, precision=p.recipe.precision,
        recipe=p.recipe.model_dump(), status=status, reason=reason,  # type: ignore[arg-type]
    )


def _run_variant(
    p: PlannedVariant, config: RunConfig, bundle: ModelBundle, out: Path, calibration: Path,
    evaluation: Path, reference: Predictions | None, is_reference: bool, log: Log,
) -> tuple[VariantResult, Predictions | None]:
    available = p.toolchain.availability(p.recipe_name)
    if available.ok:
        available = p.toolchain.supports(bundle, p.recipe)
    if not available.ok:
        log(f"  {p.name}: unavailable: {available.reason}")
        return _unavailable(p, available.reason), None
    workdir = out / "variants" / p.slug
    log(f"  {p.name}: building ...")
    build = run_isolated(
        BuildJob(variant=p.name, recipe=p.options, bundle=out / "fp32" / "bundle.json",
                 calibration=calibration, workdir=workdir),
        out / "logs", f"{p.slug}.build", config.threads, config.pin_cpus, config.build_timeout, config.malloc,
    )
    if build.status != "ok":
        log(f"  {p.name}: build {build.status}: {build.reason}")
        return _unavailable(p, f"build: {build.reason}", build.status), None
    built = build.result
    recipe = {**p.recipe.model_dump(), **built["recipe_details"]}
    log(f"  {p.name}: built in {built['seconds']:.1f} s ({built['size_bytes'] / 1e6:.1f} MB); measuring ...")
    measure = run_isolated(
        MeasureJob(
            variant=p.name, recipe=p.options, artifact=Path(built["artifact"]), evaluation=evaluation,
            threads=config.threads, measure=config.measure, accuracy=bundle.pretrained,
            accuracy_unavailable_reason="random weights (--weights none): accuracy would be meaningless",
            predictions_path=workdir / "predictions.npz",
        ),
        out / "logs", f"{p.slug}.measure", config.threads, config.pin_cpus, config.measure_timeout, config.malloc,
    )
    common: dict[str, Any] = {
        "name": p.name, "toolchain": p.toolchain.name, "precision": p.recipe.precision, "recipe": recipe,
        "artifact": {
            "path": str(Path(built["artifact"]).relative_to(out)) if Path(built["artifact"]).is_relative_to(out) else built["artifact"],
            "size_mb": built["size_bytes"] / 1e6,
            "files": [Path(f).name for f in built["files"]],
        },
        "build": {"seconds": built["seconds"], "calibration_images": built["calibration_images"]},
        "notes": list(built["notes"]),
    }
    if measure.status != "ok":
        log(f"  {p.name}: measurement {measure.status}: {measure.reason}")
        return VariantResult(status=measure.status, reason=f"measure: {measure.reason}", **common), None
    m = measure.result
    if config.measure.repeats > 1 and "latency_ms" in m:
        m = _repeat_timings(p, config, Path(built["artifact"]), evaluation, out, m, log)
    predictions = None
    accuracy = None
    if "predictions_file" in m:
        predictions = Predictions.load(m["predictions_file"])
        # The reference is compared with itself (delta 0, agreement 1), so its row is complete.
        accuracy = accuracy_summary(predictions, predictions if is_reference else reference)
    contention = m.get("contention")
    if contention and contention.get("warning"):
        common["notes"].append(contention["warning"])
    drift = (m.get("latency_ms") or {}).get("drift_pct", 0.0)
    if abs(drift) > DRIFT_NOTE_PCT:
        common["notes"].append(
            f"batch-1 latency drifted {drift:+.1f}% between the first and second half of its window: "
            "the machine's speed changed while measuring (consider --repeats)"
        )
    result = VariantResult(
        status="ok", accuracy=accuracy, latency_ms=m.get("latency_ms"), throughput=m.get("throughput", []),
        memory=m["memory"], energy=m.get("energy"), timings=m["timings"], runtime=m["runtime"],
        unavailable=m["unavailable"], contention=contention,
        predictions_file=str(Path(m["predictions_file"]).relative_to(out)) if "predictions_file" in m else None,
        **common,
    )
    log(f"  {p.name}: {_one_line(result)}")
    return result, predictions


def _repeat_timings(
    p: PlannedVariant, config: RunConfig, artifact: Path, evaluation: Path, out: Path,
    first: dict[str, Any], log: Log,
) -> dict[str, Any]:
    """Time the variant again in ``repeats - 1`` more fresh processes. The reported latency and
    throughput are those of the run with the median p50; ``p50_runs`` lists every run's median and
    ``p50_between_runs`` their range with its exact coverage as a CI of the typical run median
    (order statistics: the true median lies between the lowest and highest of k runs with
    probability 1 - 2 * 0.5**k). On a shared or virtual machine this spread is often far wider
    than one run's CI, and it is the honest one to compare with."""
    runs = [first]
    for index in range(2, config.measure.repeats + 1):
        log(f"  {p.name}: timing again ({index}/{config.measure.repeats}) ...")
        outcome = run_isolated(
            MeasureJob(
                variant=p.name, recipe=p.options, artifact=artifact, evaluation=evaluation,
                threads=config.threads, measure=config.measure, accuracy=False,
                accuracy_unavailable_reason="timing repeat", predictions_path=out / "unused.npz",
            ),
            out / "logs", f"{p.slug}.measure-{index}", config.threads, config.pin_cpus, config.measure_timeout, config.malloc,
        )
        if outcome.status == "ok" and "latency_ms" in outcome.result:
            runs.append(outcome.result)
        else:
            log(f"  {p.name}: repeat {index} {outcome.status}: {outcome.reason}")
    medians = [run["latency_ms"]["p50"] for run in runs]
    chosen = sorted(runs, key=lambda run: run["latency_ms"]["p50"])[len(runs) // 2]
    combined = dict(first)
    combined["latency_ms"] = {
        **chosen["latency_ms"], "p50_runs": medians,
        "p50_between_runs": {"low": min(medians), "high": max(medians), "coverage": 1 - 2 * 0.5 ** len(medians)},
    }
    combined["throughput"] = chosen["throughput"]
    return combined


def _one_line(v: VariantResult) -> str:
    parts = []
    if v.accuracy:
        parts.append(f"top-1 {v.accuracy.top1:.2%}")
    if v.latency_ms:
        parts.append(f"p50 {v.latency_ms.p50:.2f} ms")
    if v.throughput:
        parts.append(f"{v.throughput[-1].images_per_s:.0f} img/s @ {v.throughput[-1].batch}")
    return ", ".join(parts) or "ok"


def run_benchmark(config: RunConfig, log: Log = print) -> Results:
    """Run every variant of ``config``; results are saved after each one (``results.json``)."""
    config = config.resolved()
    planned = plan_variants(config)
    layout, samples = discover(config.data)
    assert config.out is not None
    out = config.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = _now()
    bundle = _prepare_bundle(config, out, log)
    samples, skipped = _usable_samples(samples, bundle, config.on_bad_image, log)
    split = split_samples(samples, config.calibration_images, config.eval_images, config.seed)
    log(f"preprocessing {len(split.calibration)} calibration + {len(split.evaluation)} evaluation images ...")
    calibration = cache_split(split.calibration, bundle.preprocessing, config.cache_dir, "calibration", config.threads)
    evaluation = cache_split(split.evaluation, bundle.preprocessing, config.cache_dir, "evaluation", config.threads)
    toolchain_packages = sorted({pkg for p in planned for pkg in p.toolchain.packages})
    reference_name = choose_reference(planned)
    results = Results(
        tool=Tool(version=__version__), started_at=started,
        config=config.model_dump(mode="json"),
        environment=fingerprint(config.threads, config.pin_cpus, toolchain_packages),
        model=ModelInfo(
            name=bundle.name, source=bundle.source, weights=bundle.weights, pretrained=bundle.pretrained,
            input_shape=list(bundle.input_shape), preprocessing=bundle.to_json()["preprocessing"],
            notes=list(bundle.notes),
        ),
        dataset=DatasetInfo(
            name=config.data.name, root=str(config.data.resolve()), layout=layout,
            eval_images=len(split.evaluation), calibration_images=len(split.calibration),
            eval_list_sha256=list_sha256(split.evaluation),
            calibration_list_sha256=list_sha256(split.calibration),
            seed=config.seed, skipped_images=skipped,
        ),
        reference=reference_name,
    )
    warning = results.environment["load_before"]["warning"]
    if warning:
        log(f"warning: {warning}; numbers may be skewed")
    shutil.copyfile(calibration.with_suffix(".json"), out / "calibration_split.json")
    shutil.copyfile(evaluation.with_suffix(".json"), out / "evaluation_split.json")
    save_results(results, out)
    by_name: dict[str, VariantResult] = {}
    reference: Predictions | None = None
    ordered = run_order(planned, reference_name)
    for index, p in enumerate(ordered, start=1):
        log(f"[{index}/{len(ordered)}] {p.name}")
        result, predictions = _run_variant(
            p, config, bundle, out, calibration, evaluation, reference, p.name == reference_name, log
        )
        if p.name == reference_name and predictions is not None:
            reference = predictions
        by_name[p.name] = result
        results.variants = [by_name[v] for v in config.variants if v in by_name]
        save_results(results, out)
    results.finished_at = _now()
    save_results(results, out)
    return results
