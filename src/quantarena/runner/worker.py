"""Worker process entry point: ``python -m quantarena.runner.worker JOB.json OUTCOME.json``.

Thread-count environment variables are set by the parent before this process starts; CPU pinning
is applied here before any runtime is imported. Each worker imports exactly one toolchain, and dies
with its parent (``lifeline``).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from pydantic import BaseModel

from quantarena.errors import QuantarenaError, ToolchainUnavailable, first_line
from quantarena.results.measurements import Timings
from quantarena.results.schema import Measurements
from quantarena.runner.jobs import AnyJob, BuildJob, JobOutcome, MeasureJob, Prepared, PrepareJob
from quantarena.runner.launcher import PIN_ENV
from quantarena.runner.lifeline import expected_parent, guard_parent
from quantarena.toolchains.base import BuildOutcome

#: distinct real images cycled through the latency and throughput passes
TIMING_IMAGES = 64
RANDOM_WEIGHTS = "random weights (--weights none): accuracy would be meaningless"


def apply_pinning() -> None:
    """Pin this process to the run's CPUs (``QUANTARENA_PIN_CPUS``), before any runtime loads."""
    cpus = os.environ.get(PIN_ENV)
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


def run_prepare(job: PrepareJob) -> Prepared:
    from quantarena.models.prepare import prepare_bundle

    prepare_bundle(
        job.model,
        job.weights,
        job.workdir,
        job.seed,
        input_size=job.input_size,
        resize=job.resize,
        mean=job.mean,
        std=job.std,
    )
    return Prepared(bundle=job.workdir / "bundle.json")


def run_build(job: BuildJob) -> BuildOutcome:
    from quantarena.data.cache import load_split
    from quantarena.models.spec import ModelBundle
    from quantarena.toolchains.registry import recipe_from_payload

    toolchain, recipe = recipe_from_payload(job.recipe)
    return toolchain.build(
        ModelBundle.load(job.bundle), recipe, load_split(job.calibration), job.workdir
    )


def run_measure(job: MeasureJob) -> Measurements:
    """Load (timed), one first call (timed), then the meters in order."""
    from quantarena.data.cache import read_head
    from quantarena.measure.memory import rss_mb
    from quantarena.measure.meters import MeasureRun, default_meters, measure_all
    from quantarena.models.spec import ModelBundle
    from quantarena.toolchains.registry import recipe_from_payload

    toolchain, recipe = recipe_from_payload(job.recipe)
    pretrained = ModelBundle.load(job.bundle).pretrained
    images = read_head(job.evaluation, TIMING_IMAGES)
    before = rss_mb()
    start = time.perf_counter()
    session = toolchain.load(job.artifact, recipe, job.threads)
    load_seconds = time.perf_counter() - start
    after = rss_mb()
    start = time.perf_counter()
    session.run(images[:1])
    first_ms = (time.perf_counter() - start) * 1000.0
    if job.timing_only:
        accuracy_reason: str | None = "timing repeat"
    else:
        accuracy_reason = None if pretrained else RANDOM_WEIGHTS
    run = MeasureRun(
        session=session,
        config=job.measure,
        timing_images=images,
        evaluation=job.evaluation,
        predictions_path=job.predictions_path,
        rss_before_load_mb=before,
        rss_after_load_mb=after,
        speed_unavailable=type(recipe).speed_unavailable,
        accuracy_unavailable=accuracy_reason,
    )
    run.measured.timings = Timings(load_seconds=load_seconds, first_inference_ms=first_ms)
    meters = default_meters()
    if job.scenarios is not None and job.scenarios.enabled and job.data is not None:
        from quantarena.serving.meter import ScenariosMeter

        folder = job.predictions_path.parent
        meters.append(ScenariosMeter(
            config=job.scenarios, data_root=job.data,
            spec=ModelBundle.load(job.bundle).preprocessing, folder=folder,
            root=folder.parent.parent, threads=job.threads,
        ))
    measured = measure_all(run, meters)
    # Read after measuring: what ran, as it ran; and a session may profile one call to say which
    # kernels it launched (a GPU profiler attached before timing could slow what it timed).
    measured.runtime = session.info()
    return measured


def execute(job: PrepareJob | BuildJob | MeasureJob) -> JobOutcome[BaseModel]:
    """Run one job; known errors become one-line reasons, unknown ones keep their traceback in
    the worker log (stderr) and a one-line reason in the outcome."""
    try:
        result: BaseModel
        if isinstance(job, PrepareJob):
            result = run_prepare(job)
        elif isinstance(job, BuildJob):
            result = run_build(job)
        else:
            result = run_measure(job)
        return JobOutcome[BaseModel](status="ok", result=result)
    except ToolchainUnavailable as exc:
        return JobOutcome[BaseModel](status="unavailable", reason=str(exc))
    except QuantarenaError as exc:
        return JobOutcome[BaseModel](status="failed", reason=str(exc))
    except MemoryError:
        return JobOutcome[BaseModel](status="failed", reason="ran out of memory")
    except Exception as exc:  # noqa: BLE001 - a worker must always answer
        traceback.print_exc(file=sys.stderr)
        reason = (
            f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__
        )
        return JobOutcome[BaseModel](status="failed", reason=reason[:500])


def main(argv: list[str]) -> int:
    # First thing: a worker whose orchestrator is gone must not go on using the machine.
    guard_parent(expected_parent())
    apply_pinning()
    job_path, outcome_path = Path(argv[0]), Path(argv[1])
    job = AnyJob.model_validate_json(f'{{"job": {job_path.read_text()}}}').job
    outcome = execute(job)
    # serialize_as_any: the result is written as what it is (the parent validates it as its type)
    outcome_path.write_text(outcome.model_dump_json(indent=2, serialize_as_any=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
