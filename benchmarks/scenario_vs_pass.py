"""Does a LoadGen scenario agree with the pass it should match, on the same session in the same
process, side by side?

- ``single-stream``: LoadGen's SingleStream p90 against quantarena's batch-1 latency pass (p90);
- ``offline``: LoadGen's Offline samples/s against the fastest fixed-batch throughput pass
  (the batch Offline runs at, as in a run).

For every variant of a finished run (default ``runs/demo``) with an artifact, one fresh process
(the run's threads, allocator and pinning, as a measuring worker) loads the artifact once, then
alternates ``--reps`` times the pass (the run's own settings, on the worker's timing images) and
the scenario (compute-only, through the serving harness ``--scenarios`` uses). Alternating in
one process is what makes them comparable: separate phases of a run, minutes apart, differ by
more than the serving path does on this kind of machine.

Prints, per variant, each repetition's figures, the ratio scenario / pass with its range, and
the pass's own spread between repetitions (the noise the ratio must be read against). For
Offline it also prints the session call's mean inside Offline beside the pass's time per batch,
so a gap splits into slower calls and time outside them, and the time per batch outside the
calls into gathering the inputs and the rest (ranking, answering LoadGen, the loop). For
SingleStream, ``--with-queue`` adds the scenario with each query handed over to a serving thread
through a queue (as before queries were answered inline on LoadGen's thread) each repetition;
for SingleStream twice, that thread sleeping, then polling, between queries.

    .venv/bin/python benchmarks/scenario_vs_pass.py --run runs/demo --reps 3
    .venv/bin/python benchmarks/scenario_vs_pass.py --scenario offline --reps 3
    .venv/bin/python benchmarks/scenario_vs_pass.py --variants pytorch:int8-pt2e --with-queue

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


def queued(harness: Any, scenario: str, spin: bool) -> Any:
    """The scenario with each query handed over to the serving thread through its queue (as
    before queries were answered inline), that thread sleeping or polling between them, on the
    same harness."""
    inline = harness.knobs
    harness.knobs = lambda scenario, accuracy: inline(scenario, accuracy)._replace(
        inline=False, spin=spin)
    try:
        return harness.test(scenario, label=f"{scenario}-queued-{spin}")
    finally:
        del harness.knobs


def child(job_file: Path, scenario: str, reps: int, folder: Path,
          with_queue: bool = False) -> dict[str, Any]:
    """In the fresh process: load once, alternate the pass and the scenario ``reps`` times."""
    from quantarena.config import RunConfig
    from quantarena.data.cache import load_split, read_head
    from quantarena.measure.latency import batch_of, measure_latency, measure_throughput
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
    batch = 1
    if scenario == "offline":  # the fastest throughput batch, as a run picks Offline's
        rates = {b: measure_throughput(session.run, batch_of(images, b), measure).images_per_s
                 for b in measure.throughput_batches}
        batch = max(rates, key=lambda b: rates[b])
    config = ScenarioConfig(scenarios=[scenario], modes=["compute"], loadgen_accuracy=False)
    harness = Harness(run=session.run, library=CachedImages(load_split(job.evaluation)),
                      config=config, mode="compute", folder=folder, root=folder, eval_batch=1,
                      offline_batch=batch)
    harness.calibrate()
    rows = []
    for _ in range(reps):
        if scenario == "offline":
            passed = measure_throughput(session.run, batch_of(images, batch), measure)
            run = harness.test("offline")
            per_batch = batch * 1000.0 / (run.summary.samples_per_s or float("nan"))
            rows.append({"pass": passed.images_per_s, "scenario": run.summary.samples_per_s,
                         "call_ms": run.inference_ms["mean"], "inputs_ms": run.inputs_ms["mean"],
                         "outside_ms": per_batch - run.inference_ms["mean"]
                         - run.inputs_ms["mean"],
                         "pass_call_ms": batch * 1000.0 / passed.images_per_s, "batch": batch})
            if with_queue:
                rows[-1]["queued"] = queued(harness, "offline", False).summary.samples_per_s
        else:
            loop = measure_latency(session.run, images, measure)
            run = harness.test("single-stream")
            rows.append({"pass": loop.p90, "scenario": run.summary.latency_ms["90"],
                         "call_ms": run.inference_ms["p90"]})
            if with_queue:
                rows[-1]["sleeping"] = queued(harness, "single-stream", False).summary.latency_ms[
                    "90"]
                rows[-1]["polling"] = queued(harness, "single-stream", True).summary.latency_ms[
                    "90"]
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"reps": rows}


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}–{max(values):.3f}"


def listed(values: list[float], digits: int) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


HEADERS = {
    "single-stream": "variant | loop p90 ms (reps) | SingleStream p90 ms (reps) | session call p90 "
    "| SS/loop p90 (range) | loop p90 spread between reps",
    "offline": "variant @batch | pass img/s (reps) | Offline img/s (reps) | call ms in Offline / "
    "in the pass | µs per batch gathering inputs / elsewhere | Offline/pass (range) | pass spread "
    "between reps",
}


def line(name: str, scenario: str, reps: list[dict[str, float]]) -> str:
    passes = [r["pass"] for r in reps]
    got = [r["scenario"] for r in reps]
    ratios = sorted(s / p for s, p in zip(got, passes, strict=True))
    middle = f"{ratios[len(ratios) // 2]:.3f} ({spread(ratios)})"
    noise = f"{max(passes) / min(passes) - 1:+.1%}"
    if scenario == "offline":
        calls = ", ".join(f"{r['call_ms']:.2f}/{r['pass_call_ms']:.2f}" for r in reps)
        rest = ", ".join(f"{r['inputs_ms'] * 1000:.0f}/{r['outside_ms'] * 1000:.0f}" for r in reps)
        text = (f"{name} @{int(reps[0]['batch'])} | {listed(passes, 1)} | {listed(got, 1)} | "
                f"{calls} | {rest} | {middle} | {noise}")
        if "queued" in reps[0]:
            ratios = sorted(r["queued"] / r["pass"] for r in reps)
            text += f" | queued: Offline/pass {ratios[len(ratios) // 2]:.3f} ({spread(ratios)})"
        return text
    calls_p90 = listed([r["call_ms"] for r in reps], 3)
    text = f"{name} | {listed(passes, 3)} | {listed(got, 3)} | {calls_p90} | {middle} | {noise}"
    for form in ("sleeping", "polling"):
        if form in reps[0]:
            ratios = sorted(r[form] / r["pass"] for r in reps)
            text += f" | queued, {form}: SS/loop {ratios[len(ratios) // 2]:.3f} ({spread(ratios)})"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--scenario", choices=sorted(HEADERS), default="single-stream")
    parser.add_argument("--variants", default=None, help="comma-separated (default: all timed)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--with-queue", action="store_true",
                        help="also hand each query to a serving thread through a queue "
                        "(single-stream: sleeping, then polling, between queries)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job_file, scenario, reps, queue, out = args.child
        answer = child(Path(job_file), scenario, int(reps), Path(out).parent, queue == "queue")
        Path(out).write_text(json.dumps(answer))
        return
    wanted = args.variants.split(",") if args.variants else None
    run = RunArtifacts.read(args.run, wanted)
    print(f"{args.run}: {len(run.jobs)} variant(s), {args.reps} alternations each, "
          f"{run.config.threads} thread(s)")
    print(HEADERS[args.scenario])
    queue = "queue" if args.with_queue else "inline"
    children = run.in_children(__file__, [args.scenario, str(args.reps), queue],
                               "scenario-vs-pass-")
    for name, result, code in children:
        if result is None:
            print(f"{name} | failed (exit {code})")
            continue
        print(line(name, args.scenario, result["reps"]), flush=True)

if __name__ == "__main__":
    main()
