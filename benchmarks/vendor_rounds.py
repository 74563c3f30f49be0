"""Do quantarena's interleaved-round medians agree with the runtimes' own tools, timed in the same
rounds?

Takes a finished run folder (default ``runs/demo``: ``make demo``) and times, in one set of
shuffled interleaved rounds (``quantarena.runner.rounds.Rounds``, the runner's own), for every
variant with an artifact:

- ``quantarena``: the variant's timing worker, as a run's interleaved phase times it;
- ``quantarena pass``: quantarena's per-variant latency pass (the row's ``latency_ms``), one full
  pass per round on a session loaded once (``--no-pass`` leaves it out);
- ``quantarena, OpenVINO's clock``: the same session and window loop, the median read from
  OpenVINO's own ``InferRequest.latency`` (what ``benchmark_app`` reports): one clock for both;
- the runtime's own tool: OpenVINO's ``benchmark_app`` (started afresh each round, its reported
  median), ONNX Runtime's and PyTorch's plain loops (``vendor_loops.py``).

Prints each tool's median over rounds and, from the rounds' pairs, quantarena's ratio to it with a
95% CI; then, for ``benchmark_app``, the same ratio of wall-clock means per call (its printed median
reads OpenVINO's clock, which leaves part of every call out); then the INT8-vs-FP32 speed-up as
each tool measures it. Writes every round to ``--out``.

    .venv/bin/python benchmarks/vendor_rounds.py --run runs/demo --rounds 12
    .venv/bin/python benchmarks/vendor_rounds.py --variants openvino:fp32,openvino:int8 \
        --no-pass --rounds 30

Run it on a quiet machine (nothing else timing): it is one measurement.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from quantarena.results.speedup import PairedSpeedup
from quantarena.runner.rounds import Rounds, RoundSettings, WindowSource
from quantarena.runner.timing_client import TimingFailed, TimingWorker
from quantarena.runner.timing_protocol import TimeRequest, WindowReply
from quantarena.toolchains.registry import parse_variant
from run_artifacts import LoopWorker, RunArtifacts

MEDIAN = re.compile(r"Median:\s+([0-9.]+)\s*(ms|us)\b")
COUNT = re.compile(r"Count:\s+([0-9]+)\s*iterations")
DURATION = re.compile(r"Duration:\s+([0-9.]+)\s*ms")
QA, PASS = "quantarena", "quantarena pass"
#: quantarena's OpenVINO session, its windows' medians read from OpenVINO's own clock
OWN_CLOCK = "quantarena, OpenVINO's clock"

#: the runtime's own loop for a variant, by (toolchain, recipe); OpenVINO's is benchmark_app
RAW_LOOPS = {
    ("onnxruntime", "fp32"): "onnxruntime",
    ("onnxruntime", "int8"): "onnxruntime",
    ("pytorch", "fp32"): "pytorch-eager",
    ("pytorch", "int8-pt2e"): "pytorch-pt2e",
}


class BenchmarkApp:
    """OpenVINO's ``benchmark_app`` on the variant's IR, started afresh for each window (it has
    no server mode): latency hint, synchronous calls, one stream, the run's threads, f32 precision
    hint, the IR's dynamic batch fed as batch 1. ``inference_only`` times ``infer()`` alone on
    inputs set once; without it (its "full" mode) every call sets its input tensor first, as
    quantarena does with a new image per call. Its reported median is the window's median; the
    window's calls and seconds are its own loop's ("Count", "Duration": wall clock, every call's
    Python work included), so their ratio is a mean on the clock quantarena's windows use. Its
    process is a child of this one, so the rounds count its CPU as ours."""

    def __init__(self, xml: Path, threads: int, seconds: int, workdir: Path,
                 inference_only: bool) -> None:
        self.xml, self.seconds, self.inference_only = xml, seconds, inference_only
        self.config = workdir / f"benchmark_app-{xml.parent.name}.json"
        self.config.write_text(json.dumps({"CPU": {
            "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
            "INFERENCE_NUM_THREADS": str(threads), "INFERENCE_PRECISION_HINT": "f32",
        }}))

    def command(self) -> list[str]:
        script = Path(sys.executable).with_name("benchmark_app")
        tool = [str(script)] if script.exists() else [
            sys.executable, "-m", "openvino.tools.benchmark.main"]
        return [*tool, "-m", str(self.xml), "-d", "CPU", "-hint", "latency", "-api", "sync",
                "-load_config", str(self.config),
                "-inference_only", "true" if self.inference_only else "false",
                "-t", str(self.seconds), "-data_shape", "[1,3,224,224]"]

    def window(self, request: TimeRequest) -> WindowReply:
        start = time.perf_counter()
        out = subprocess.run(self.command(), capture_output=True, text=True, check=False)
        median, count = MEDIAN.search(out.stdout), COUNT.search(out.stdout)
        duration = DURATION.search(out.stdout)
        if out.returncode != 0 or median is None:
            raise TimingFailed(f"benchmark_app failed ({out.returncode}): {out.stderr[-300:]}")
        scale = 1.0 if median.group(2) == "ms" else 1e-3  # it prints µs below 1 ms
        if count is None or duration is None:  # an older benchmark_app: no wall-clock mean
            return WindowReply(median_ms=float(median.group(1)) * scale, calls=0,
                               seconds=time.perf_counter() - start, cpu_s=0.0)
        return WindowReply(median_ms=float(median.group(1)) * scale, calls=int(count.group(1)),
                           seconds=float(duration.group(1)) / 1000.0, cpu_s=0.0)

    def before_window(self) -> None: ...

    def after_window(self) -> None: ...

    def cpu_seconds(self) -> float:
        return 0.0  # nothing of it runs between windows

    def close(self) -> None: ...


def sources_for(run: RunArtifacts, workdir: Path, with_pass: bool,
                bm_seconds: int) -> dict[str, WindowSource]:
    launcher, measure = run.launcher(workdir), run.measure_file(workdir)
    threads = run.config.threads
    sources: dict[str, WindowSource] = {}
    for name, (planned, job) in run.jobs.items():
        toolchain, recipe = planned.toolchain.name, parse_variant(name)[1]
        sources[f"{QA} {name}"] = TimingWorker(name, planned.slug, job, launcher)
        if with_pass:
            sources[f"{PASS} {name}"] = LoopWorker("quantarena-pass", planned.slug, job,
                                                   launcher, measure)
        if toolchain == "openvino":
            sources[f"{OWN_CLOCK} {name}"] = LoopWorker("openvino-own-clock", planned.slug, job,
                                                        launcher)
            for mode in ("openvino-app", "openvino-copy-in"):
                sources[f"{mode} loop {name}"] = LoopWorker(mode, planned.slug, job, launcher)
            for label, only in (("benchmark_app", True), ("benchmark_app full", False)):
                sources[f"{label} {name}"] = BenchmarkApp(job.artifact, threads, bm_seconds,
                                                          workdir, only)
        elif (mode := RAW_LOOPS.get((toolchain, recipe))) is not None:
            sources[f"{mode} loop {name}"] = LoopWorker(mode, planned.slug, job, launcher)
    return sources


def start(sources: dict[str, WindowSource]) -> None:
    for name, source in list(sources.items()):
        if isinstance(source, TimingWorker):
            print(f"loading {name} ...", flush=True)
            try:
                source.start()
                source.wait_ready()
            except TimingFailed as exc:
                print(f"  left out: {exc}", flush=True)
                source.close()
                del sources[name]


def report(medians: dict[str, list[float | None]], rows: list[str]) -> dict[str, Any]:
    """Each tool's median over rounds and quantarena's paired ratio to it."""
    out: dict[str, Any] = {}
    print("\nbatch-1 median latency (ms), median over rounds; ratio = quantarena / tool, "
          "geometric mean of the per-round ratios, 95% CI")
    for variant in rows:
        qa = medians.get(f"{QA} {variant}")
        if qa is None:
            continue
        tools = [k for k in medians if k.endswith(f" {variant}") and k != f"{QA} {variant}"]
        line = {"quantarena_ms": _median(qa), "tools": {}}
        print(f"{variant:<20} quantarena {_median(qa):7.3f}")
        for key in tools:
            tool = key[: -len(variant) - 1]
            pair = PairedSpeedup.of(key, f"{QA} {variant}", medians[key], qa)
            ratio = 1.0 / pair.speedup if pair.speedup else None
            ci = sorted(1.0 / c for c in pair.ci95) if pair.ci95 else []
            line["tools"][tool] = {"median_ms": _median(medians[key]), "ratio": ratio,
                                   "ci95": ci, "rounds": pair.rounds}
            shown_ci = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "(too few rounds)"
            shown_ratio = f"{ratio:.3f}" if ratio is not None else "n/a"
            print(f"{'':<20} {tool:<22} {_median(medians[key]):7.3f}   "
                  f"ratio {shown_ratio} {shown_ci}")
        clock = medians.get(f"{OWN_CLOCK} {variant}")
        bm = medians.get(f"benchmark_app {variant}")
        if clock is not None and bm is not None:
            pair = PairedSpeedup.of(f"benchmark_app {variant}", f"{OWN_CLOCK} {variant}", bm, clock)
            if pair.speedup and pair.ci95:
                ci = sorted(1.0 / c for c in pair.ci95)
                line["own_clock_vs_benchmark_app"] = {"ratio": 1.0 / pair.speedup, "ci95": ci}
                print(f"{'':<20} same clock: quantarena (OpenVINO's clock) / benchmark_app "
                      f"{1.0 / pair.speedup:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")
        out[variant] = line
    return out


def wall_means(windows: dict[str, list[Any]], rows: list[str]) -> dict[str, Any]:
    """The same comparison on the wall clock: each window's seconds / calls (every call's whole
    time, Python included, for quantarena and for ``benchmark_app``'s own loop alike), paired per
    round. A tool's printed median may leave part of each call out (``benchmark_app``'s reads
    OpenVINO's clock); a mean on one wall clock does not."""
    order = sorted({w.round for ws in windows.values() for w in ws})
    means: dict[str, list[float | None]] = {}
    for name, ws in windows.items():
        by_round = {w.round: w.seconds / w.calls * 1000.0 for w in ws
                    if w.calls and w.median_ms is not None}
        means[name] = [by_round.get(r) for r in order]
    out: dict[str, Any] = {}
    shown = False
    for variant in rows:
        qa = means.get(f"{QA} {variant}")
        for tool in ("benchmark_app", "benchmark_app full"):
            other = means.get(f"{tool} {variant}")
            if qa is None or other is None or not any(v is not None for v in other):
                continue
            if not shown:
                print("\nwall-clock mean per call (ms): window seconds / calls, median over "
                      "rounds; ratio = quantarena / tool, paired per round, 95% CI")
                shown = True
            pair = PairedSpeedup.of(f"{tool} {variant}", f"{QA} {variant}", other, qa)
            ratio = 1.0 / pair.speedup if pair.speedup else None
            ci = sorted(1.0 / c for c in pair.ci95) if pair.ci95 else []
            out[f"{variant} vs {tool}"] = {"quantarena_ms": _median(qa), "tool_ms": _median(other),
                                          "ratio": ratio, "ci95": ci}
            shown_ci = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "(too few rounds)"
            print(f"{variant:<20} quantarena {_median(qa):7.3f}   {tool:<20} {_median(other):7.3f}"
                  f"   ratio {ratio or float('nan'):.3f} {shown_ci}")
    return out


def speedups(medians: dict[str, list[float | None]]) -> dict[str, Any]:
    """INT8 vs FP32 of one toolchain as quantarena's rounds, its latency pass and the runtime's
    own tool each measure it."""
    out: dict[str, Any] = {}
    print("\nINT8 vs FP32 speed-up by tool (paired per round, 95% CI)")
    for fp32, int8 in (("openvino:fp32", "openvino:int8"), ("onnxruntime:fp32", "onnxruntime:int8"),
                       ("pytorch:fp32", "pytorch:int8-pt2e")):
        pairs = {tool: (f"{tool} {fp32}", f"{tool} {int8}") for tool in (QA, PASS)}
        own = [[k for k in medians if k.endswith(f" {v}") and not k.startswith(QA)]
               for v in (fp32, int8)]
        if all(len(keys) == 1 for keys in own):
            pairs["runtime's own tool"] = (own[0][0], own[1][0])
        for tool, (base, variant) in pairs.items():
            if base not in medians or variant not in medians:
                continue
            pair = PairedSpeedup.of(base, variant, medians[base], medians[variant])
            ci = f"[{pair.ci95[0]:.2f}, {pair.ci95[1]:.2f}]" if pair.ci95 else ""
            print(f"  {int8} vs {fp32}, {tool:<20} {pair.speedup or 0:.2f}× {ci}")
            out[f"{int8} vs {fp32} ({tool})"] = pair.model_dump()
    return out


def _median(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="a finished run")
    parser.add_argument("--rounds", type=int, default=12, help="rounds to time (at least 2)")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="time cap of the rounds")
    parser.add_argument("--bm-seconds", type=int, default=1, help="benchmark_app -t per window")
    parser.add_argument("--no-pass", action="store_true", help="leave out the latency pass")
    parser.add_argument("--variants", default=None,
                        help="comma-separated variants of the run (default: every one timed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON of every round")
    args = parser.parse_args()

    run = RunArtifacts.read(args.run, args.variants.split(",") if args.variants else None)
    config, results = run.config, run.results
    with tempfile.TemporaryDirectory(prefix="qa-vendor-") as tmp:
        sources = sources_for(run, Path(tmp), not args.no_pass, args.bm_seconds)
        try:
            start(sources)
            anchor = next(k for k in sources if k.startswith(f"{QA} "))
            rounds = Rounds(
                sources=sources, reference=anchor, baselines={},
                settings=RoundSettings(
                    request=TimeRequest(min_seconds=config.measure.rounds_window_seconds,
                                        min_calls=config.measure.rounds_window_calls),
                    target_ci=0.0, max_seconds=args.max_seconds, max_rounds=args.rounds,
                    seed=args.seed,
                ),
            )
            block = rounds.run()
        finally:
            for source in sources.values():
                source.close()
    rows = [r["name"] for r in results["variants"]]
    summary = {"run": str(args.run), "threads": config.threads, "rounds": len(block.order),
               "seconds": block.seconds, "window_seconds": config.measure.rounds_window_seconds,
               "ratios": report(block.medians_ms, rows),
               "wall_means": wall_means(block.windows, rows),
               "speedups": speedups(block.medians_ms),
               "medians_ms": block.medians_ms, "order": block.order,
               "discarded": {k: [w.discarded for w in ws if w.discarded]
                             for k, ws in block.windows.items()}}
    print(f"\n{len(block.order)} rounds in {block.seconds:.0f} s ({block.stop_reason}); "
          f"windows discarded: {sum(len(v) for v in summary['discarded'].values())}")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
