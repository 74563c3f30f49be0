"""Does a loaded timing worker use the CPU while it waits for its next window?

The interleaved rounds keep one timing worker per variant loaded; while one is timed, the others
wait on their pipe. The worker process itself then blocks in a read, but a runtime's threads may
spin for a while after work (OpenMP's wait policy, oneDNN/TBB, ONNX Runtime's intra-op pool). For
each measured variant of a run this script starts a real timing worker (same environment as in a
run), times one window, then reads the worker's CPU time at fixed moments after the window ended:
what it burned 10 ms, 50 ms, 200 ms and 1 s into its wait, and over a further 2 s.

    python benchmarks/waiting_workers.py --run runs/demo [--env OMP_WAIT_POLICY=PASSIVE ...]

``--env`` adds variables to the timing workers' environment, to compare a wait policy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from quantarena.config import RunConfig
from quantarena.data.cache_entry import EntryPaths
from quantarena.results.io import load_results
from quantarena.runner.launcher import Launcher
from quantarena.runner.plan import plan_variants
from quantarena.runner.timing_client import TimingWorker
from quantarena.runner.timing_protocol import TimeRequest, TimingJob

MOMENTS = (0.01, 0.05, 0.2, 1.0, 3.0)  # seconds after the window's reply


def profile(worker: TimingWorker, window_s: float) -> tuple[float, list[float]]:
    """The window's median (ms), and the CPU seconds used since its end at each moment."""
    reply = worker.window(TimeRequest(min_seconds=window_s, min_calls=5))
    start, cpu0 = time.perf_counter(), worker.cpu_seconds()
    used = []
    for moment in MOMENTS:
        time.sleep(max(0.0, start + moment - time.perf_counter()))
        used.append(worker.cpu_seconds() - cpu0)
    return reply.median_ms, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a quantarena run folder")
    parser.add_argument("--window", type=float, default=0.5, help="window seconds (0.5)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    results = load_results(args.run)
    config = RunConfig.model_validate(results.config)
    extra = dict(item.split("=", 1) for item in args.env)
    launcher = Launcher.from_config(config, Path("/tmp/quantarena-waiting-workers"))
    rows = {v.name: v for v in results.variants}
    key = json.loads((args.run / "evaluation_split.json").read_text())["key"]
    cached = EntryPaths.of(Path(config.cache_dir).expanduser(), key).array  # the cached split
    moments = ", ".join(f"{m:g} s" for m in MOMENTS)
    print(f"threads {config.threads}, extra env {extra or 'none'}; CPU seconds a waiting worker "
          f"used since its window ended, at {moments} (mean of two windows)")
    for p in plan_variants(config):
        row = rows.get(p.name)
        if row is None or row.status != "ok" or row.latency_ms is None or row.artifact is None:
            continue
        job = TimingJob(recipe=p.recipe.to_payload(p.name), artifact=args.run / row.artifact.path,
                        evaluation=cached, threads=config.threads,
                        warmup_max_seconds=config.measure.warmup_max_seconds)
        worker = TimingWorker(p.name, p.slug, job, launcher, extra)
        worker.start()
        try:
            worker.wait_ready()
            median, used = profile(worker, args.window)
            again, used2 = profile(worker, args.window)
        finally:
            worker.close()
        cells = " ".join(f"{(a + b) / 2:7.4f}" for a, b in zip(used, used2, strict=True))
        print(f"{p.name:<28} median {median:7.2f} / {again:7.2f} ms   {cells}")


if __name__ == "__main__":
    main()
