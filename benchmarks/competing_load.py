"""Do speed-ups survive a noisy machine? Interleaved rounds vs one-variant-after-another, each
measured quiet and with a competing load started halfway through.

Takes a finished run folder (default ``runs/demo``) and measures the speed-up of every chosen
variant over the first one in two modes, each quiet, loaded, and quiet again:

1. **interleaved, quiet** — the run's interleaved phase: kept-loaded timing workers (the run's
   ``rounds_workers`` per variant, taking turns), shuffled rounds, paired per-round ratios with
   95% CIs, the run's stop rule and time cap;
2. **interleaved, loaded** — the same, with a busy loop on one core for ``--load-seconds``
   started halfway through (at half the quiet measurement's duration);
3. **sequential, quiet** — what a run does without rounds: each variant loaded in a fresh process
   and given quantarena's latency pass (warm-up until stable, then calls until count, duration
   and CI target), one after another; the speed-up is the ratio of two p50s;
4. **sequential, loaded** — the same, with the same load started halfway through.

Prints, per variant and mode, the loaded run's change from the quiet one next to the second quiet
run's (fresh processes, no load: the run-to-run noise floor, which no in-run CI covers), and
whether each falls inside the quiet interleaved run's CI. The busy loop is a separate
single-threaded Python process, orphaned so that quantarena counts it as another process (as any
neighbour would be), not as its own.

    .venv/bin/python benchmarks/competing_load.py --run runs/demo

Run it on a quiet machine (nothing else timing): it is one measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from quantarena.runner.interleave import TakingTurns
from quantarena.runner.rounds import Rounds, RoundSettings, WindowSource
from quantarena.runner.timing_client import TimingWorker
from quantarena.runner.timing_protocol import TimeRequest
from run_artifacts import LoopWorker, RunArtifacts

DEFAULT_VARIANTS = "pytorch:fp32,onnxruntime:fp32,onnxruntime:int8,openvino:fp32,openvino:int8"
BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


class Load:
    """A busy loop on one core, started ``delay`` seconds from ``start()``, for ``seconds``. It
    runs in its own session under ``setsid`` and its launcher exits at once, so the loop belongs
    to init, not to this process tree."""

    def __init__(self, delay: float, seconds: float) -> None:
        self.delay, self.seconds = delay, seconds
        self.started_at: float | None = None
        self._timer: threading.Timer | None = None

    def start(self, origin: float) -> None:
        self._origin = origin
        self._timer = threading.Timer(self.delay, self._launch)
        self._timer.start()

    def _launch(self) -> None:
        self.started_at = time.perf_counter() - self._origin
        code = BUSY.format(seconds=self.seconds)
        subprocess.run(["setsid", "--fork", sys.executable, "-c", code], check=True)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()


def interleaved(run: RunArtifacts, workdir: Path, load: Load | None) -> dict[str, Any]:
    launcher, measure = run.launcher(workdir), run.config.measure
    turns = measure.rounds_workers
    sources: dict[str, WindowSource] = {
        name: TakingTurns([TimingWorker(name, f"{planned.slug}.{i}", job, launcher)
                           for i in range(turns)])
        for name, (planned, job) in run.jobs.items()
    }
    try:
        for source in sources.values():
            assert isinstance(source, TakingTurns)
            for worker in source.workers:
                worker.start()
                worker.wait_ready()
        reference = next(iter(sources))
        rounds = Rounds(
            sources=sources, reference=reference, baselines={},
            settings=RoundSettings(
                request=TimeRequest(min_seconds=measure.rounds_window_seconds,
                                    min_calls=measure.rounds_window_calls),
                target_ci=measure.rounds_target_ci, max_seconds=measure.rounds_max_seconds,
                max_rounds=measure.rounds_max, seed=run.config.seed,
            ),
            log=lambda line: None,
        )
        origin = time.perf_counter()
        if load is not None:
            load.start(origin)
        block = rounds.run()
        seconds = time.perf_counter() - origin
    finally:
        if load is not None:
            load.cancel()
        for source in sources.values():
            source.close()
    speedups = {p.variant: p for p in block.speedups if p.baseline == reference}
    discarded = sum(1 for ws in block.windows.values() for w in ws if w.discarded)
    return {
        "seconds": seconds, "rounds": len(block.order), "stop_reason": block.stop_reason,
        "discarded_windows": discarded,
        "load_started_s": load.started_at if load is not None else None,
        "speedups": {v: {"speedup": p.speedup, "ci95": p.ci95} for v, p in speedups.items()},
        "others_cpu_s": [s.others_cpu_s for s in block.machine.samples],
    }


def sequential(run: RunArtifacts, workdir: Path, load: Load | None) -> dict[str, Any]:
    """Each variant in a fresh process, one full latency pass, one after another."""
    launcher, measure = run.launcher(workdir), run.measure_file(workdir)
    p50: dict[str, float] = {}
    origin = time.perf_counter()
    if load is not None:
        load.start(origin)
    try:
        for name, (planned, job) in run.jobs.items():
            worker = LoopWorker("quantarena-pass", planned.slug, job, launcher, measure)
            try:
                worker.start()
                worker.wait_ready()
                p50[name] = worker.window(TimeRequest(min_seconds=0, min_calls=1)).median_ms
            finally:
                worker.close()
    finally:
        if load is not None:
            load.cancel()
    reference = next(iter(p50))
    return {
        "seconds": time.perf_counter() - origin,
        "load_started_s": load.started_at if load is not None else None,
        "p50_ms": p50,
        "speedups": {v: {"speedup": p50[reference] / t, "ci95": []}
                     for v, t in p50.items() if v != reference},
    }


def inside(value: float | None, ci: list[float]) -> str:
    if value is None or not ci:
        return "n/a"
    return "inside" if ci[0] <= value <= ci[1] else "OUTSIDE"


def table(out: dict[str, Any], variants: list[str]) -> None:
    """Each loaded speed-up's change from the quiet run of its mode, next to the change between
    the two quiet runs (fresh processes, no load: the run-to-run noise floor)."""
    print(f"\nspeed-up over {variants[0]} (baseline time / variant time); change vs the quiet "
          "run of the same mode; 'inside' = within the quiet interleaved run's 95% CI")
    print(f"{'variant':<18} {'mode':<12} {'quiet':>22} {'loaded':>20} {'quiet again':>20}")
    for v in variants[1:]:
        ci = out["interleaved"]["quiet"]["speedups"][v]["ci95"]
        for mode in ("interleaved", "sequential"):
            q = out[mode]["quiet"]["speedups"][v]["speedup"]
            cells = [f"{q:.2f}×" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]"
                                    if mode == "interleaved" and ci else "")]
            for cond in ("loaded", "quiet again"):
                s = out[mode][cond]["speedups"][v]["speedup"]
                cells.append(f"{s:.2f}× {s / q - 1:+.1%} {inside(s, ci)}")
            print(f"{v:<18} {mode:<12} {cells[0]:>22} {cells[1]:>20} {cells[2]:>20}")
    print("\ndoes each interleaved run's own 95% CI cover the quiet run's speed-up? (the CI a "
          "user reads from a loaded run is honest when it does)")
    for v in variants[1:]:
        q = out["interleaved"]["quiet"]["speedups"][v]["speedup"]
        cells = []
        for cond in ("loaded", "quiet again"):
            own = out["interleaved"][cond]["speedups"][v]["ci95"]
            span = f"[{own[0]:.2f}, {own[1]:.2f}]" if own else "no CI"
            cells.append(f"{cond} {span} {'covers' if inside(q, own) == 'inside' else 'MISSES'}")
        print(f"{v:<18} quiet {q:.2f}×   " + "   ".join(cells))
    for mode in ("interleaved", "sequential"):
        loaded = out[mode]["loaded"]
        print(f"{mode}: quiet {out[mode]['quiet']['seconds']:.0f} s, loaded "
              f"{loaded['seconds']:.0f} s, load started at {loaded['load_started_s'] or 0:.0f} s"
              + (f", {loaded['rounds']} rounds, {loaded['discarded_windows']} windows discarded"
                 if mode == "interleaved" else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="a finished run")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help="comma-separated; the first is the speed-up baseline")
    parser.add_argument("--load-seconds", type=float, default=30.0)
    parser.add_argument("--rounds-workers", type=int, default=None,
                        help="timing workers per variant (default: the run's setting)")
    parser.add_argument("--out", type=Path, default=None, help="JSON of all six measurements")
    args = parser.parse_args()
    variants = args.variants.split(",")
    run = RunArtifacts.read(args.run, variants)
    run.jobs = {v: run.jobs[v] for v in variants}  # the order given: the first is the baseline
    if args.rounds_workers is not None:
        run.config.measure.rounds_workers = args.rounds_workers

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qa-load-") as tmp:
        for mode, measure in (("interleaved", interleaved), ("sequential", sequential)):
            print(f"{mode}, quiet ...", flush=True)
            quiet = measure(run, Path(tmp), None)
            delay = quiet["seconds"] / 2
            print(f"{mode}, quiet: {quiet['seconds']:.0f} s; loaded: a busy core from "
                  f"{delay:.0f} s for {args.load_seconds:.0f} s ...", flush=True)
            loaded = measure(run, Path(tmp), Load(delay, args.load_seconds))
            time.sleep(args.load_seconds)  # the loop has surely ended before the next pass
            print(f"{mode}, quiet again ...", flush=True)
            out[mode] = {"quiet": quiet, "loaded": loaded,
                         "quiet again": measure(run, Path(tmp), None)}
    table(out, variants)
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
