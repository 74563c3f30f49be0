"""How much does quantarena's measuring harness add to a batch-1 latency?

For each measured variant of a run, a fresh process (same thread settings as the workers) loads
the artifact once and alternates two timings of the same images: a minimal raw loop calling the
runtime directly (each session's ``raw_call``: ONNX Runtime ``session.run``, OpenVINO ``infer``,
PyTorch ``module(x)``, with no adapter code around it) and
quantarena's own ``measure_latency`` over the adapter session. It prints both medians and their
ratio (harness / raw; 1.00 = no overhead), measured in one run.

    python benchmarks/harness_overhead.py --run runs/demo
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROUNDS = 3  # raw, harness, raw, harness, ...: alternation cancels slow drifts of the machine


def raw_median_ms(call: Any, seconds: float, warmup: int = 20) -> float:
    for _ in range(warmup):
        call()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 30:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0)


def child(job_file: str, seconds: float) -> None:
    from quantarena.config import MeasureConfig
    from quantarena.data.cache import load_split
    from quantarena.measure.latency import measure_latency
    from quantarena.runner.jobs import MeasureJob
    from quantarena.toolchains import recipe_from_payload

    job = MeasureJob.model_validate_json(Path(job_file).read_text())
    toolchain, recipe = recipe_from_payload(job.recipe)
    session = toolchain.load(job.artifact, recipe, job.threads)
    images = np.asarray(load_split(job.evaluation).images[:1], dtype=np.float32)
    call = session.raw_call(images)  # the runtime called directly: each session knows how
    config = MeasureConfig(
        latency_min_seconds=seconds, latency_max_seconds=seconds * 3, latency_target_ci=0.005
    )
    raw, harness = [], []
    for _ in range(ROUNDS):
        raw.append(raw_median_ms(call, seconds))
        harness.append(measure_latency(session.run, images, config).p50)
    print(json.dumps({"variant": job.recipe.variant, "raw_ms": raw, "harness_ms": harness}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, help="a quantarena run folder")
    parser.add_argument(
        "--variants", default=None, help="comma-separated subset (default: every ok variant)"
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per timing block")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], float(args.child[1]))
        return
    if args.run is None:
        parser.error("--run is required")

    from quantarena.results.io import load_results
    from quantarena.runner.launcher import worker_env
    from quantarena.runner.plan import variant_slug

    results = load_results(args.run)
    wanted = set(args.variants.split(",")) if args.variants else None
    threads = int(results.config["threads"])
    print(f"{'variant':<28} {'raw p50 ms':>11} {'harness p50 ms':>15} {'ratio':>7}")
    for v in results.variants:
        if v.status != "ok" or v.latency_ms is None or (wanted and v.name not in wanted):
            continue
        job_file = args.run / "logs" / f"{variant_slug(v.name)}.measure.job.json"
        command = [sys.executable, __file__, "--child", str(job_file), str(args.seconds)]
        out = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=worker_env(
                threads, results.config.get("pin_cpus"), results.config.get("malloc", "system")
            ),
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode
            print(f"{v.name:<28} failed: {last}")
            continue
        data = json.loads(lines[-1])
        raw, harness = float(np.median(data["raw_ms"])), float(np.median(data["harness_ms"]))
        print(f"{v.name:<28} {raw:>11.3f} {harness:>15.3f} {harness / raw:>7.3f}")


if __name__ == "__main__":
    main()
