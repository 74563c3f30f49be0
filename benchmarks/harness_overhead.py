"""How much does quantarena's measuring harness add to a batch-1 latency?

For each measured variant of a run, a fresh process (same thread settings as the workers) loads
the artifact once and alternates two timings of the same images: a minimal raw loop calling the
runtime directly (ONNX Runtime ``session.run``, OpenVINO ``infer``, PyTorch ``module(x)``) and
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


def raw_call(toolchain: str, session: Any, batch: np.ndarray) -> Any:
    """The runtime called directly, with its input already in the runtime's own type."""
    if toolchain == "onnxruntime":
        feed = {session.input_name: batch}
        return lambda: session.session.run(None, feed)
    if toolchain == "openvino":
        request = session.compiled.create_infer_request()
        return lambda: request.infer({0: batch})
    if toolchain == "pytorch":
        import torch

        tensor = torch.from_numpy(batch)

        def call() -> Any:
            with torch.inference_mode():
                return session.module(tensor)

        return call
    return None


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


def child(variant: str, recipe: dict[str, Any], artifact: str, evaluation: str, threads: int, seconds: float) -> None:
    from quantarena.config import MeasureConfig
    from quantarena.data.cache import load_split
    from quantarena.measure.latency import measure_latency
    from quantarena.toolchains import parse_variant

    toolchain, recipe_name = parse_variant(variant)
    session = toolchain.load(Path(artifact), toolchain.parse_recipe(recipe_name, recipe), threads)
    images = np.asarray(load_split(Path(evaluation)).images[:1], dtype=np.float32)
    call = raw_call(toolchain.name, session, images)
    if call is None:
        print(json.dumps({"variant": variant, "skipped": "no raw loop for this toolchain"}))
        return
    config = MeasureConfig(latency_min_seconds=seconds, latency_max_seconds=seconds * 3, latency_target_ci=0.005)
    raw, harness = [], []
    for _ in range(ROUNDS):
        raw.append(raw_median_ms(call, seconds))
        harness.append(measure_latency(session.run, images, config).p50)
    print(json.dumps({"variant": variant, "raw_ms": raw, "harness_ms": harness}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a quantarena run folder")
    parser.add_argument("--variants", default=None, help="comma-separated subset (default: every ok variant)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per timing block")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, recipe, artifact, evaluation, threads, seconds = args.child
        child(variant, json.loads(recipe), artifact, evaluation, int(threads), float(seconds))
        return
    if args.run is None:
        parser.error("--run is required")

    from quantarena.results.io import load_results
    from quantarena.runner.isolate import worker_env
    from quantarena.runner.plan import variant_slug

    results = load_results(args.run)
    wanted = set(args.variants.split(",")) if args.variants else None
    threads = int(results.config["threads"])
    print(f"{'variant':<28} {'raw p50 ms':>11} {'harness p50 ms':>15} {'ratio':>7}")
    for v in results.variants:
        if v.status != "ok" or v.latency_ms is None or (wanted and v.name not in wanted):
            continue
        job = json.loads((args.run / "logs" / f"{variant_slug(v.name)}.measure.job.json").read_text())
        command = [sys.executable, __file__, "--child", v.name, json.dumps(job["recipe"]), job["artifact"],
                   job["evaluation"], str(threads), str(args.seconds)]
        out = subprocess.run(command, capture_output=True, text=True, env=worker_env(threads, results.config.get("pin_cpus"), results.config.get("malloc", "system")))
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            print(f"{v.name:<28} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        data = json.loads(lines[-1])
        if "skipped" in data:
            print(f"{v.name:<28} skipped: {data['skipped']}")
            continue
        raw, harness = float(np.median(data["raw_ms"])), float(np.median(data["harness_ms"]))
        print(f"{v.name:<28} {raw:>11.3f} {harness:>15.3f} {harness / raw:>7.3f}")


if __name__ == "__main__":
    main()
