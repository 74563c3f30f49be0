"""Worker process entry point: ``python -m quantarena.runner.worker JOB.json OUTCOME.json``.

Thread-count environment variables are set by the parent before this process starts; CPU pinning
is applied here before any runtime is imported. Each worker imports exactly one toolchain.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from quantarena.runner.jobs import BuildJob, JobOutcome, MeasureJob, PrepareJob

PIN_ENV = "QUANTARENA_PIN_CPUS"


def _pin() -> None:
    cpus = os.environ.get(PIN_ENV)
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


def run_prepare(job: PrepareJob) -> dict[str, Any]:
    from quantarena.models.prepare import prepare_bundle

    bundle = prepare_bundle(
        job.model, job.weights, job.workdir, job.seed,
        input_size=job.input_size, resize=job.resize, mean=job.mean, std=job.std,
    )
    return {"bundle": str(job.workdir / "bundle.json"), "name": bundle.name}


def run_build(job: BuildJob) -> dict[str, Any]:
    from quantarena.data.cache import load_split
    from quantarena.models.spec import ModelBundle
    from quantarena.toolchains import parse_variant

    toolchain, recipe_name = parse_variant(job.variant)
    recipe = toolchain.parse_recipe(recipe_name, job.recipe)
    bundle = ModelBundle.load(job.bundle)
    calibration = load_split(job.calibration)
    job.workdir.mkdir(parents=True, exist_ok=True)
    built = toolchain.build(bundle, recipe, calibration, job.workdir)
    files = toolchain.artifact_files(built.artifact)
    return {
        "artifact": str(built.artifact),
        "files": [str(f) for f in files],
        "size_bytes": sum(f.stat().st_size for f in files),
        "seconds": built.seconds,
        "calibration_images": built.calibration_images,
        "recipe_details": built.recipe_details,
        "notes": built.notes,
    }


TIMING_IMAGES = 64  # distinct real images cycled through the latency and throughput passes


def _timing_passes(session: Any, images: Any, job: MeasureJob) -> dict[str, Any]:
    """Batch-1 latency, then throughput per batch size with energy and contention meters."""
    import numpy as np

    from quantarena.measure.contention import ContentionMeter
    from quantarena.measure.energy import EnergyMeter
    from quantarena.measure.latency import measure_latency, measure_throughput

    out: dict[str, Any] = {"throughput": [], "unavailable": {}}
    contention = ContentionMeter()
    contention.start()
    out["latency_ms"] = measure_latency(session.run, images, job.measure).to_json()
    energy: dict[str, Any] = {"unavailable": "no throughput pass was configured"}
    meter = EnergyMeter()
    for batch in job.measure.throughput_batches:
        pool = images if len(images) >= batch else np.resize(images, (batch, *images.shape[1:]))
        meter.start()
        throughput = measure_throughput(session.run, [np.ascontiguousarray(pool[:batch])], job.measure)
        # The meter's window holds the warm-up and the timed calls of this batch size.
        energy = meter.stop(batch * (throughput.iterations + throughput.warmup_iterations))
        energy["batch"] = batch
        out["throughput"].append(throughput.to_json())
    out["energy"] = energy
    if "unavailable" in energy:
        out["unavailable"]["energy"] = energy["unavailable"]
    out["contention"] = contention.stop()
    return out


def run_measure(job: MeasureJob) -> dict[str, Any]:
    """Load, first call, timing passes, memory snapshot, then the accuracy pass.

    Memory is read before the accuracy pass on purpose: that pass streams the whole evaluation
    split through a memory map, whose pages would otherwise count as the runtime's memory.
    """
    from quantarena.data.cache import load_split, read_head
    from quantarena.measure.accuracy import predict
    from quantarena.measure.memory import peak_rss_mb, rss_mb
    from quantarena.toolchains import parse_variant
    from quantarena.toolchains.base import timing_unavailable

    toolchain, recipe_name = parse_variant(job.variant)
    recipe = toolchain.parse_recipe(recipe_name, job.recipe)
    images = read_head(job.evaluation, TIMING_IMAGES)
    baseline = rss_mb()
    start = time.perf_counter()
    session = toolchain.load(job.artifact, recipe, job.threads)
    load_seconds = time.perf_counter() - start
    after_load = rss_mb()
    start = time.perf_counter()
    session.run(images[:1])
    first_ms = (time.perf_counter() - start) * 1000.0
    out: dict[str, Any] = {
        "timings": {"load_seconds": load_seconds, "first_inference_ms": first_ms},
        "unavailable": {},
        "runtime": toolchain.runtime_info(session),
    }
    no_timing = timing_unavailable(session)
    if no_timing:
        session.run(images[: job.measure.eval_batch])  # the accuracy pass's batch shape, for memory
        for key in ("latency", "throughput", "energy"):
            out["unavailable"][key] = no_timing
    else:
        timed = _timing_passes(session, images, job)
        out["unavailable"].update(timed.pop("unavailable"))
        out.update(timed)
    peak = peak_rss_mb()
    out["memory"] = {
        "peak_rss_mb": peak, "baseline_rss_mb": baseline, "after_load_rss_mb": after_load,
        "load_increase_mb": after_load - baseline, "inference_increase_mb": max(0.0, peak - after_load),
    }
    if job.accuracy:
        predictions = predict(session.run, load_split(job.evaluation), job.measure.eval_batch)
        predictions.save(job.predictions_path)
        out["predictions_file"] = str(job.predictions_path)
    else:
        out["unavailable"]["accuracy"] = job.accuracy_unavailable_reason
    return out


def execute(job: PrepareJob | BuildJob | MeasureJob) -> JobOutcome:
    """Run one job; known errors become one-line reasons, unknown ones keep their traceback in
    the worker log (stderr) and a one-line reason in the outcome."""
    from quantarena.errors import QuantarenaError, ToolchainUnavailable

    try:
        if isinstance(job, PrepareJob):
            result = run_prepare(job)
        elif isinstance(job, BuildJob):
            result = run_build(job)
        else:
            result = run_measure(job)
        return JobOutcome(status="ok", result=result)
    except ToolchainUnavailable as exc:
        return JobOutcome(status="unavailable", reason=str(exc))
    except QuantarenaError as exc:
        return JobOutcome(status="failed", reason=str(exc))
    except MemoryError:
        return JobOutcome(status="failed", reason="ran out of memory")
    except Exception as exc:  # noqa: BLE001 - a worker must always answer
        traceback.print_exc(file=sys.stderr)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return JobOutcome(status="failed", reason=f"{type(exc).__name__}: {message}"[:500])


def main(argv: list[str]) -> int:
    _pin()
    job_path, outcome_path = Path(argv[0]), Path(argv[1])
    data = json.loads(job_path.read_text())
    kind = {"prepare": PrepareJob, "build": BuildJob, "measure": MeasureJob}[data["kind"]]
    outcome = execute(kind.model_validate(data))
    outcome_path.write_text(outcome.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
