"""Does quantarena time OpenVINO the way OpenVINO's own ``benchmark_app`` does?

Builds the FP32 and INT8 IR of MobileNetV2 with the OpenVINO adapter, then measures batch-1
median latency of each IR with ``benchmark_app`` and with quantarena's own latency pass, under
the same settings (threads, one stream, latency hint, f32 precision hint, synchronous calls).
Every measurement runs in its own process, interleaved over rounds, so a noisy neighbour hurts
both tools alike. Prints both medians, their ratio, and the INT8-vs-FP32 speedup by each tool.

    .venv/bin/python benchmarks/openvino_vs_benchmark_app.py --threads 2 --rounds 2

benchmark_app feeds random inputs and quantarena real images; for a CNN's latency that makes no
difference. The IR keeps the export's dynamic batch (as quantarena runs it); benchmark_app also
runs a static-shape copy, which shows what the dynamic batch costs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "imagenet-val-sample"
SHAPE = "[1,3,224,224]"
MEDIAN = re.compile(r"Median:\s+([0-9.]+)\s*ms")


def benchmark_app() -> list[str]:
    """The ``benchmark_app`` that ships with the openvino wheel, beside this interpreter."""
    script = Path(sys.executable).with_name("benchmark_app")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "openvino.tools.benchmark.main"]


def run_benchmark_app(xml: Path, seconds: int, config: Path, *, static: bool) -> float:
    """Median latency (ms) as benchmark_app reports it. Threads and streams go through
    ``-load_config`` because benchmark_app refuses ``-nthreads``/``-nstreams`` with a hint."""
    shape = ["-shape", SHAPE] if static else ["-data_shape", SHAPE]
    command = [
        *benchmark_app(),
        "-m",
        str(xml),
        "-d",
        "CPU",
        "-hint",
        "latency",
        "-api",
        "sync",
        "-load_config",
        str(config),
        "-inference_only",
        "true",
        "-t",
        str(seconds),
        *shape,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    found = MEDIAN.search(out.stdout)
    if out.returncode != 0 or not found:
        tail = f"{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        raise RuntimeError(f"benchmark_app failed ({out.returncode}):\n{tail}")
    return float(found.group(1))


def run_quantarena(xml: Path, recipe: str, threads: int, images: Path) -> float:
    """quantarena's batch-1 median (ms), measured in a fresh process as the runner would."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [
        sys.executable,
        __file__,
        "--measure",
        str(xml),
        "--recipe",
        recipe,
        "--threads",
        str(threads),
        "--images",
        str(images),
    ]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"quantarena measurement failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["p50"])


def measure_child(xml: Path, recipe: str, threads: int, images: Path) -> None:
    """Inside the fresh process: load (compile) with the adapter, time batch-1 calls."""
    import numpy as np

    from quantarena.config import MeasureConfig
    from quantarena.measure.latency import measure_latency
    from quantarena.toolchains import get_toolchain

    toolchain = get_toolchain("openvino")
    session = toolchain.load(xml, toolchain.parse_recipe(recipe), threads)
    stats = measure_latency(session.run, np.load(images), MeasureConfig.model_validate({}))
    print(json.dumps({**stats.model_dump(), "runtime": session.info()}))


def build(workdir: Path, data: Path, calibration: int) -> tuple[dict[str, Path], Path]:
    """FP32 and INT8 IR of MobileNetV2 plus a .npy of real evaluation images."""
    import numpy as np

    from quantarena.data.cache import cache_split, load_split
    from quantarena.data.dataset import discover
    from quantarena.data.split import split_samples
    from quantarena.models.prepare import prepare_bundle
    from quantarena.toolchains import get_toolchain

    bundle = prepare_bundle("mobilenet_v2", "default", workdir / "bundle", seed=0)
    _, samples = discover(data)
    split = split_samples(samples, calibration, 64, seed=0)
    spec, cache = bundle.preprocessing, workdir / "cache"
    cal = load_split(cache_split(split.calibration, spec, cache, "calibration"))
    ev = load_split(cache_split(split.evaluation, spec, cache, "evaluation"))
    images = workdir / "latency_images.npy"
    np.save(images, np.ascontiguousarray(ev.images))
    toolchain = get_toolchain("openvino")
    irs = {}
    for recipe in ("fp32", "int8"):
        result = toolchain.build(bundle, toolchain.parse_recipe(recipe), cal, workdir / recipe)
        irs[recipe] = result.artifact
        sizes = {p.name: p.stat().st_size for p in toolchain.artifact_files(result.artifact)}
        print(f"built openvino:{recipe} in {result.seconds:.1f} s: {sizes}")
    return irs, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions per tool")
    parser.add_argument("--seconds", type=int, default=15, help="benchmark_app duration per run")
    parser.add_argument("--calibration", type=int, default=128)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workdir", type=Path, default=None, help="kept if given, else a temp dir")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--recipe", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure_child(args.measure, args.recipe, args.threads, args.images)
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qa-ov-bench-"))
    try:
        irs, images = build(workdir, args.data, args.calibration)
        config = workdir / "benchmark_app_config.json"
        config.write_text(
            json.dumps(
                {
                    "CPU": {
                        "PERFORMANCE_HINT": "LATENCY",
                        "NUM_STREAMS": "1",
                        "INFERENCE_NUM_THREADS": str(args.threads),
                        "INFERENCE_PRECISION_HINT": "f32",
                    }
                }
            )
        )
        tools = ("benchmark_app", "benchmark_app static", "quantarena")
        medians: dict[tuple[str, str], list[float]] = {(r, t): [] for r in irs for t in tools}
        for round_ in range(args.rounds):
            for recipe, xml in irs.items():
                row = (
                    run_benchmark_app(xml, args.seconds, config, static=False),
                    run_benchmark_app(xml, args.seconds, config, static=True),
                    run_quantarena(xml, recipe, args.threads, images),
                )
                for tool, value in zip(tools, row, strict=True):
                    medians[recipe, tool].append(value)
                shown = ", ".join(f"{t} {v:.2f} ms" for t, v in zip(tools, row, strict=True))
                print(f"round {round_ + 1} {recipe}: {shown}", flush=True)
        report(medians, irs, tools, args.threads)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def report(
    medians: dict[tuple[str, str], list[float]],
    irs: dict[str, Path],
    tools: tuple[str, ...],
    threads: int,
) -> None:
    mid = {key: statistics.median(values) for key, values in medians.items()}
    print(
        f"\nbatch-1 median latency, ms ({threads} threads, 1 stream, LATENCY hint, "
        "f32 precision hint; median over rounds)"
    )
    header = ("variant", "benchmark_app", "bm_app static", "quantarena", "quantarena/bm_app")
    print(f"{header[0]:<8} {header[1]:>14} {header[2]:>14} {header[3]:>11} {header[4]:>18}")
    for recipe in irs:
        b, s, q = (mid[recipe, t] for t in tools)
        print(f"{recipe:<8} {b:>14.2f} {s:>14.2f} {q:>11.2f} {q / b:>18.3f}")
    for tool in tools:
        print(f"INT8 vs FP32 speedup by {tool}: {mid['fp32', tool] / mid['int8', tool]:.2f}x")
    print("spread over rounds (min-max ms), the noise to read the medians against:")
    for (recipe, tool), values in medians.items():
        print(f"  {recipe:<5} {tool:<21} {min(values):7.2f} - {max(values):7.2f}")


if __name__ == "__main__":
    main()
