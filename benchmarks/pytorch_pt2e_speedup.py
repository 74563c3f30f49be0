"""Does PT2E INT8 under Inductor beat FP32 on this CPU, and by how much?

Builds MobileNetV2 (real weights) as eager FP32, compiled FP32 (Inductor, freezing) and PT2E INT8
(X86InductorQuantizer, Inductor, freezing), calibrating on real sample images, then prints the
batch-1 median latency of each and the ratios, all measured in this one run (shared machines
drift between runs; ratios within a run are what to compare).

    python benchmarks/pytorch_pt2e_speedup.py [--images DIR] [--threads N] [--seconds S]

Latency uses ``quantarena.measure.latency.measure_latency`` (warm-up until stable, then until the
median's CI is tight), the same timer ``quantarena run`` uses.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = REPO.parent / "shared" / "datasets" / "imagenet-val-sample"
VARIANTS = ("pytorch:fp32", "pytorch:fp32-compiled", "pytorch:int8-pt2e")


def measure(
    run: Callable[[Any], Any], images: Any, seconds: float, min_iterations: int
) -> tuple[dict[str, float], str]:
    """Batch-1 latency over the real images, with quantarena's own timer."""
    from quantarena.config import MeasureConfig
    from quantarena.measure.latency import measure_latency

    config = MeasureConfig(
        latency_min_iterations=min_iterations,
        latency_min_seconds=seconds,
        latency_max_seconds=max(seconds * 4, 20.0),
    )
    stats = measure_latency(run, images, config)
    return {
        "p50": stats.p50,
        "iterations": stats.iterations,
        "min": stats.min,
    }, "quantarena.measure.latency"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--min-iterations", type=int, default=30)
    parser.add_argument("--calibration", type=int, default=32)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    from quantarena.data.cache import cache_split, load_split
    from quantarena.data.dataset import discover
    from quantarena.data.split import split_samples
    from quantarena.models.prepare import prepare_bundle
    from quantarena.toolchains import parse_variant

    work = Path(tempfile.mkdtemp(prefix="pt2e-speedup-"))
    bundle = prepare_bundle("mobilenet_v2", "default", work / "bundle", seed=0)
    _, samples = discover(args.images)
    split = split_samples(samples, args.calibration, 8, seed=0)
    calibration = load_split(
        cache_split(split.calibration, bundle.preprocessing, work / "cache", "calibration")
    )
    evaluation = load_split(
        cache_split(split.evaluation, bundle.preprocessing, work / "cache", "evaluation")
    )
    images = np.ascontiguousarray(evaluation.images)

    rows: list[tuple[str, float, int, float, float]] = []
    method = ""
    for variant in VARIANTS:
        toolchain, name = parse_variant(variant)
        recipe = toolchain.parse_recipe(name)
        (work / name).mkdir()
        built = toolchain.build(bundle, recipe, calibration, work / name)
        start = time.perf_counter()
        session = toolchain.load(built.artifact, recipe, args.threads)
        loaded = time.perf_counter() - start
        stats, method = measure(session.run, images, args.seconds, args.min_iterations)
        rows.append((variant, stats["p50"], int(stats["iterations"]), built.seconds, loaded))
        del session

    print(f"MobileNetV2, batch 1, {args.threads} threads, real images; timer: {method}")
    print(f"{'variant':26} {'p50 ms':>8} {'iters':>6} {'build s':>8} {'load s':>7}")
    for variant, p50, iterations, build_s, load_s in rows:
        print(f"{variant:26} {p50:8.2f} {iterations:6d} {build_s:8.1f} {load_s:7.1f}")
    eager, compiled, int8 = (r[1] for r in rows)
    print(f"speedup int8-pt2e vs eager fp32:    {eager / int8:.2f}x")
    print(f"speedup int8-pt2e vs compiled fp32: {compiled / int8:.2f}x")
    print(f"speedup compiled fp32 vs eager fp32: {eager / compiled:.2f}x")


if __name__ == "__main__":
    main()
