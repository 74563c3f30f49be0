"""Does LoadGen's SingleStream p90 agree with quantarena's batch-1 latency pass, on the same
session in the same process, side by side?

For every variant of a finished run (default ``runs/demo``) with an artifact, one fresh process
(the run's threads, allocator and pinning, as a measuring worker) loads the artifact once, then
alternates ``--reps`` times:

- ``loop``: the batch-1 latency pass's own loop (``measure_latency``, the run's settings) on the
  worker's timing images;
- ``SingleStream``: LoadGen's SingleStream scenario, compute-only, through the serving harness
  ``--scenarios single-stream`` uses (its p90, and the p90 of the session call alone).

Prints, per variant, the p90 of each repetition and the ratio SingleStream / loop with its range
over repetitions, beside the loop's own spread between repetitions (the noise the ratio must be
read against).

    .venv/bin/python benchmarks/single_stream_vs_loop.py --run runs/demo --reps 3

Run it on a quiet machine: it is one measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from quantarena.runner.launcher import worker_env
from quantarena.runner.timing_protocol import TimingJob
from run_artifacts import RunArtifacts


def child(job_file: Path, reps: int, folder: Path) -> dict[str, Any]:
    """In the fresh process: load once, alternate loop and SingleStream ``reps`` times."""
    from quantarena.config import RunConfig
    from quantarena.data.cache import load_split, read_head
    from quantarena.measure.latency import measure_latency
    from quantarena.runner.worker import TIMING_IMAGES, apply_pinning
    from quantarena.serving.config import ScenarioConfig
    from quantarena.serving.harness import Harness
    from quantarena.serving.qsl import CachedImages
    from quantarena.toolchains import recipe_from_payload

    apply_pinning()
    payload = json.loads(job_file.read_text())
    job = TimingJob.model_validate(payload["job"])
    measure = RunConfig.model_validate(payload["config"]).measure
    toolchain, recipe = recipe_from_payload(job.recipe)
    session = toolchain.load(job.artifact, recipe, job.threads)
    images = read_head(job.evaluation, TIMING_IMAGES)
    library = CachedImages(load_split(job.evaluation))
    config = ScenarioConfig(scenarios=["single-stream"], modes=["compute"],
                            loadgen_accuracy=False)
    harness = Harness(run=session.run, library=library, config=config, mode="compute",
                      folder=folder, root=folder, eval_batch=1, offline_batch=1)
    harness.calibrate()
    rows = []
    for _ in range(reps):
        loop = measure_latency(session.run, images, measure)
        single = harness.test("single-stream")
        rows.append({
            "loop_p50": loop.p50, "loop_p90": loop.p90,
            "ss_p50": single.summary.latency_ms["50"], "ss_p90": single.summary.latency_ms["90"],
            "call_p90": single.inference_ms["p90"],
        })
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"reps": rows}


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}–{max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--variants", default=None, help="comma-separated (default: all timed)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job_file, reps, out = args.child
        Path(out).write_text(json.dumps(child(Path(job_file), int(reps), Path(out).parent)))
        return
    wanted = args.variants.split(",") if args.variants else None
    run = RunArtifacts.read(args.run, wanted)
    print(f"{args.run}: {len(run.jobs)} variant(s), {args.reps} alternations each, "
          f"{run.config.threads} thread(s)")
    print("variant | loop p90 ms (reps) | SingleStream p90 ms (reps) | session call p90 | "
          "SS/loop p90 (range) | loop p90 spread between reps")
    with tempfile.TemporaryDirectory(prefix="ss-vs-loop-") as tmp:
        for name, (planned, job) in run.jobs.items():
            folder = Path(tmp) / planned.slug
            folder.mkdir()
            job_file, answer = folder / "job.json", folder / "answer.json"
            job_file.write_text(json.dumps({"job": job.model_dump(mode="json"),
                                            "config": run.config.model_dump(mode="json")}))
            code = subprocess.run(
                [sys.executable, __file__, "--child", str(job_file), str(args.reps), str(answer)],
                env=worker_env(run.config.threads, run.config.pin_cpus, run.config.malloc),
                check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ).returncode
            if code != 0 or not answer.exists():
                print(f"{name} | failed (exit {code})")
                continue
            reps = json.loads(answer.read_text())["reps"]
            loop = [r["loop_p90"] for r in reps]
            single = [r["ss_p90"] for r in reps]
            calls = [r["call_p90"] for r in reps]
            ratios = [s / lp for s, lp in zip(single, loop, strict=True)]
            print(f"{name} | {', '.join(f'{v:.3f}' for v in loop)} | "
                  f"{', '.join(f'{v:.3f}' for v in single)} | "
                  f"{', '.join(f'{v:.3f}' for v in calls)} | "
                  f"{sorted(ratios)[len(ratios) // 2]:.3f} ({spread(ratios)}) | "
                  f"{max(loop) / min(loop) - 1:+.1%}", flush=True)


if __name__ == "__main__":
    main()
