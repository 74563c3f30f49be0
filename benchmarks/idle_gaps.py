"""Is a session slower when its calls arrive with idle gaps between them?

A Server scenario at a low rate leaves tens of milliseconds between queries; the latency pass
calls back to back. For every variant of a finished run with an artifact, in one process per
variant, this alternates blocks of back-to-back batch-1 calls with blocks of calls each preceded
by an idle gap (``--gap-ms``), on the same loaded session and the same real images, and prints
each block kind's median call and their ratio (median over blocks). A ratio well above 1 means
the runtime slows after idling (threads asleep, caches or clocks gone cold), so its Server
latency at low rates is worse than at higher ones. A third block kind spends the gap
busy-waiting on the calling thread (as the Server SUT does with ``server_idle: spin``): how much
of the slowdown comes from that thread's core going idle.

    .venv/bin/python benchmarks/idle_gaps.py --run runs/demo

Run it on a quiet machine: it is one measurement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from quantarena.runner.launcher import worker_env
from run_artifacts import RunArtifacts

HERE = Path(__file__).resolve().parent


def one_variant(job_json: str, gap_ms: float, blocks: int, calls: int) -> dict[str, float]:
    """In this process: load the variant, alternate the two block kinds."""
    from quantarena.data.cache import read_head
    from quantarena.runner.timing_protocol import TimingJob
    from quantarena.toolchains.registry import recipe_from_payload

    job = TimingJob.model_validate_json(job_json)
    toolchain, recipe = recipe_from_payload(job.recipe)
    session = toolchain.load(job.artifact, recipe, job.threads)
    images = read_head(job.evaluation, 64)
    inputs = [np.ascontiguousarray(images[i : i + 1]) for i in range(len(images))]
    for i in range(30):
        session.run(inputs[i % len(inputs)])

    def block(gap_s: float, spin: bool) -> float:
        times = []
        for i in range(calls):
            if gap_s and spin:
                until = time.perf_counter() + gap_s
                while time.perf_counter() < until:
                    pass
            elif gap_s:
                time.sleep(gap_s)
            t0 = time.perf_counter()
            session.run(inputs[i % len(inputs)])
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3

    kinds: dict[str, list[float]] = {"tight": [], "sleep": [], "spin": []}
    for b in range(blocks):
        order = list(kinds) if b % 2 else list(kinds)[::-1]
        for kind in order:
            kinds[kind].append(block(0.0 if kind == "tight" else gap_ms / 1e3, kind == "spin"))
    ratios = [g / t for g, t in zip(kinds["sleep"], kinds["tight"], strict=True)]
    spin = [g / t for g, t in zip(kinds["spin"], kinds["tight"], strict=True)]
    return {"back_to_back_ms": statistics.median(kinds["tight"]),
            "after_gap_ms": statistics.median(kinds["sleep"]),
            "after_spin_ms": statistics.median(kinds["spin"]),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "spin_ratio": statistics.median(spin)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="a finished run")
    parser.add_argument("--variants", default=None)
    parser.add_argument("--gap-ms", type=float, default=60.0, help="idle time before each call")
    parser.add_argument("--blocks", type=int, default=6, help="blocks of each kind")
    parser.add_argument("--calls", type=int, default=40, help="calls per block")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(one_variant(args.child, args.gap_ms, args.blocks, args.calls)))
        return
    run = RunArtifacts.read(args.run, args.variants.split(",") if args.variants else None)
    print(f"batch-1 median call, back to back vs after a {args.gap_ms:g} ms idle gap "
          f"({args.blocks} blocks of {args.calls} calls each, alternated)")
    for name, (_, job) in run.jobs.items():
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", job.model_dump_json(),
             "--gap-ms", str(args.gap_ms), "--blocks", str(args.blocks),
             "--calls", str(args.calls)],
            capture_output=True, text=True, check=False, cwd=HERE.parent,
            env=worker_env(run.config.threads, run.config.pin_cpus, run.config.malloc),
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines:
            print(f"{name:<26} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(lines[-1])
        print(f"{name:<26} back to back {r['back_to_back_ms']:7.2f} ms   after gap "
              f"{r['after_gap_ms']:7.2f} ms   ratio {r['ratio']:.2f} "
              f"[{r['ratio_min']:.2f}, {r['ratio_max']:.2f}]   after a busy gap "
              f"{r['after_spin_ms']:7.2f} ms   ratio {r['spin_ratio']:.2f}")


if __name__ == "__main__":
    main()
