"""Does the accuracy pass, timed, give the throughput a pass of its own gives, side by side?

A run times the throughput at the accuracy pass's batch size over that pass (every evaluation
batch once, after a warm-up at that batch: ``measure.accuracy_speed``) instead of a pass of its
own on one repeated batch of timing images (``--throughput-from-accuracy false``). For every
variant of a finished run (default ``runs/demo``) with an artifact, one fresh process (the run's
threads, allocator and pinning, as a measuring worker) loads the artifact once, then alternates
``--reps`` times the pass of its own (the run's settings) and the timed accuracy pass.

Prints, per variant, each repetition's img/s both ways with their 95% CIs, the ratio accuracy
pass / own pass with its range, the own pass's spread between repetitions (the noise the ratio
must be read against), and the share of the accuracy pass's energy window (first call to last)
spent inside the timed calls (the rest, ranking the logits and the loop, is in no figure but
the energy per image).

    .venv/bin/python benchmarks/accuracy_pass_throughput.py --run runs/demo --reps 3

Run it on a quiet machine: it is one measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from quantarena.runner.timing_protocol import TimingJob
from run_artifacts import RunArtifacts


def child(job_file: Path, reps: int) -> dict[str, Any]:
    """In the fresh process: load once, alternate the two ways ``reps`` times."""
    from quantarena.config import RunConfig
    from quantarena.data.cache import load_split, read_head
    from quantarena.measure.accuracy import predict
    from quantarena.measure.accuracy_speed import TimedRun, pass_throughput
    from quantarena.measure.latency import (
        batch_of,
        measure_throughput,
        throughput_warmup_cap,
        warm_up,
    )
    from quantarena.runner.worker import TIMING_IMAGES, apply_pinning
    from quantarena.toolchains import recipe_from_payload

    apply_pinning()
    payload = json.loads(job_file.read_text())
    job = TimingJob.model_validate(payload["job"])
    measure = RunConfig.model_validate(payload["config"]).measure
    toolchain, recipe = recipe_from_payload(job.recipe)
    session = toolchain.load(job.artifact, recipe, job.threads)
    images = read_head(job.evaluation, TIMING_IMAGES)
    split = load_split(job.evaluation)
    batch = measure.eval_batch
    rows = []
    for _ in range(reps):
        own = measure_throughput(session.run, batch_of(images, batch), measure)
        warm = warm_up(session.run, [batch_of(images, batch)], throughput_warmup_cap(measure))
        timed = TimedRun(session.run)
        predict(timed, split, batch)
        timed.finish()
        rate = pass_throughput(timed, warm, batch, measure)
        if isinstance(rate, str):
            raise SystemExit(f"the accuracy pass cannot stand for a throughput pass: {rate}")
        rows.append({"own": own.images_per_s, "own_ci": own.images_per_s_ci95,
                     "own_batches": own.iterations, "pass": rate.images_per_s,
                     "pass_ci": rate.images_per_s_ci95, "pass_batches": rate.iterations,
                     "in_calls": sum(timed.seconds) / timed.window_s})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"batch": batch, "reps": rows}


def ci_text(rate: float, ci: list[float]) -> str:
    half = (ci[1] - ci[0]) / 2 / rate if len(ci) == 2 else float("nan")
    return f"{rate:.1f} ±{half:.1%}"


def line(name: str, batch: int, reps: list[dict[str, Any]]) -> str:
    own = [r["own"] for r in reps]
    ratios = sorted(r["pass"] / r["own"] for r in reps)
    middle = f"{ratios[len(ratios) // 2]:.3f} ({min(ratios):.3f}–{max(ratios):.3f})"
    owns = ", ".join(f"{ci_text(r['own'], r['own_ci'])} ({r['own_batches']})" for r in reps)
    passes = ", ".join(f"{ci_text(r['pass'], r['pass_ci'])} ({r['pass_batches']})" for r in reps)
    in_calls = min(r["in_calls"] for r in reps)
    return (f"{name} @{batch} | {owns} | {passes} | {middle} | {max(own) / min(own) - 1:+.1%} "
            f"| {in_calls:.1%}")


HEADER = ("variant @batch | own pass img/s ±CI (batches), per rep | accuracy pass img/s ±CI "
          "(batches), per rep | accuracy/own (range) | own pass spread between reps | "
          "share of the energy window inside the calls (lowest)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--variants", default=None, help="comma-separated (default: all timed)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job_file, reps, out = args.child
        Path(out).write_text(json.dumps(child(Path(job_file), int(reps))))
        return
    wanted = args.variants.split(",") if args.variants else None
    run = RunArtifacts.read(args.run, wanted)
    print(f"{args.run}: {len(run.jobs)} variant(s), {args.reps} alternations each, "
          f"{run.config.threads} thread(s)")
    print(HEADER)
    children = run.in_children(__file__, [str(args.reps)], "accuracy-pass-throughput-")
    for name, result, code in children:
        if result is None:
            print(f"{name} | failed (exit {code})")
            continue
        print(line(name, result["batch"], result["reps"]), flush=True)

if __name__ == "__main__":
    main()
