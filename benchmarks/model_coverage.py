"""Does quantarena handle my model? A coverage matrix: every CPU variant on a list of torchvision
classifiers (random weights), each model run through the real ``quantarena run`` command.

Why: a user's first question is whether their architecture gets through each toolchain at all, and
how much INT8 buys on it. This runs every variant that needs no GPU (read from each recipe's
``needs``, discovered in the registry at run time, so a new recipe appears without editing this
file) on each model with small measurement settings, and writes a table model × variant:

- ``ok 2.3×``: INT8 (or other non-FP32) variant, batch-1 p50 speed-up over its ``baseline``
  (the FP32 variant of its toolchain named in ``results.json``);
- ``ok 14.9 ms``: FP32 variant, batch-1 p50 latency;
- ``ok (accuracy only)``: built and ran, but its speed means nothing here (a GPU graph
  simulated on the CPU); with random weights its accuracy is not scored either;
- ``unavailable [n]`` / ``failed [n]``: the reason is footnote n, in quantarena's words.

Run it (the full matrix; a model takes a few minutes on 2 cores, ViT/Swin/DenseNet longer):

    .venv/bin/python benchmarks/model_coverage.py --out runs/model-coverage

    .venv/bin/python benchmarks/model_coverage.py --models resnet18,mobilenet_v2 \\
        --variants onnxruntime:fp32,onnxruntime:int8 --out runs/coverage-small

Each model's run goes to ``OUT/MODEL`` (a normal quantarena run folder: ``quantarena report``
works on it), its output to ``OUT/logs/MODEL.{stdout,stderr}.log``; the matrix to
``OUT/coverage.json`` and ``OUT/coverage.md``. A model whose folder already holds a finished
``results.json`` made with the same settings is not run again (so an interrupted matrix resumes);
``--force`` runs it anyway. Speed-ups come from short latency passes (see ``MEASURE``): they say
roughly what INT8 buys on this machine, not a benchmark to quote; ``quantarena run`` with its
defaults measures properly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantarena.config import MeasureConfig
from quantarena.errors import QuantarenaError, ResultsError
from quantarena.results.io import RESULTS_FILE, load_results
from quantarena.results.schema import Results, VariantResult
from quantarena.toolchains.registry import parse_variant, registered_toolchains

DEFAULT_MODELS = (
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "regnet_y_400mf",
    "convnext_tiny",
    "shufflenet_v2_x1_0",
    "squeezenet1_1",
    "densenet121",
    "vit_b_16",
    "swin_t",
)

#: Measurement settings small enough for a few minutes per model, as ``measure:`` config keys
#: (flag = ``--`` + key with dashes, see ``quantarena run --help``). Only the keys this
#: quantarena's ``MeasureConfig`` has are passed, so a setting it does not know yet is left out.
MEASURE: dict[str, str] = {
    "repeats": "1",
    "latency_min_iterations": "20",
    "latency_min_seconds": "1",
    "latency_max_seconds": "5",
    "warmup_max_seconds": "2",
    "throughput_batches": "8",
    "throughput_min_iterations": "3",
    "throughput_min_seconds": "1",
    "throughput_max_seconds": "5",
    # No interleaved timing rounds (where this quantarena has them): the matrix reads each
    # variant's own batch-1 pass, and the rounds load every variant again (for a Swin or ViT,
    # minutes of Inductor compiling) for paired speed-ups vs the reference it does not show.
    "interleave": "false",
}

#: Recipe knob that sets a training length (QAT): found on the recipe class, never by name.
STEPS_KNOB = "steps"
#: A footnote longer than this is cut (the full text is in the run's results.json).
REASON_CHARS = 220
#: Where each model's ``quantarena run`` arguments are recorded, to tell a reusable run folder.
LOGS = "logs"


# ---------------------------------------------------------------------------------------------
# What to run


def cpu_variants() -> list[str]:
    """Every registered variant whose recipe does not declare that it needs a GPU, in the
    registry's order (so a recipe added to any toolchain shows up here unchanged)."""
    return [
        f"{toolchain.name}:{name}"
        for toolchain in registered_toolchains()
        for name, recipe in toolchain.recipes.items()
        if not recipe.needs.gpu
    ]


def steps_overrides(variants: Sequence[str], steps: int, user: Sequence[str]) -> list[str]:
    """``VARIANT.steps=N`` for each variant whose recipe class has a ``steps`` knob (QAT), unless
    the user set that knob already with ``--recipe``."""
    overrides = []
    for variant in variants:
        toolchain, name = parse_variant(variant)
        knob = f"{variant}.{STEPS_KNOB}="
        if STEPS_KNOB in toolchain.recipes[name].model_fields and not any(
            u.startswith(knob) for u in user
        ):
            overrides.append(f"{knob}{steps}")
    return overrides


def run_arguments(args: argparse.Namespace, variants: Sequence[str]) -> list[str]:
    """The ``quantarena run`` arguments every model gets (all but ``--model`` and ``--out``)."""
    argv = [
        "--weights", "none",
        "--variants", ",".join(variants),
        "--calibration-images", str(args.calibration_images),
        "--eval-images", str(args.eval_images),
    ]
    known = MeasureConfig.model_fields
    for key, value in MEASURE.items():
        if key in known:
            argv += ["--" + key.replace("_", "-"), value]
    for recipe in [*steps_overrides(variants, args.steps, args.recipe), *args.recipe]:
        argv += ["--recipe", recipe]
    for flag, value in (
        ("--data", args.data),
        ("--cache-dir", args.cache_dir),
        ("--threads", args.threads),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv


# ---------------------------------------------------------------------------------------------
# Running one model


@dataclass
class ModelRun:
    """One model's ``quantarena run``: its outcome and its results, or why there are none."""

    model: str
    run_dir: Path
    #: "ran", "reused" (a finished run with the same settings was found), "crashed", "timed out",
    #: "interrupted"
    outcome: str
    results: Results | None = None
    exit_code: int | None = None
    #: one line, when the run produced no usable results (or stopped before some variants)
    error: str | None = None
    #: this invocation's wall time for the model (None when reused)
    wall_seconds: float | None = None

    @property
    def run_seconds(self) -> float | None:
        """How long quantarena's run took, from the results (also for a reused run)."""
        if self.results is None or self.results.finished_at is None:
            return self.wall_seconds
        started = dt.datetime.fromisoformat(self.results.started_at)
        finished = dt.datetime.fromisoformat(self.results.finished_at)
        return (finished - started).total_seconds()


def finished_results(run_dir: Path, wanted: Sequence[str], argv: Sequence[str]) -> Results | None:
    """The run folder's results when they are finished, cover every wanted variant, and were made
    with the same ``quantarena run`` arguments; else ``None`` (run it again)."""
    recorded = run_dir.parent / LOGS / f"{run_dir.name}.args.json"
    try:
        if json.loads(recorded.read_text()) != list(argv):
            return None
        results = load_results(run_dir / RESULTS_FILE)
    except (OSError, ValueError, ResultsError):
        return None
    states = {v.name: v.status for v in results.variants}
    if results.finished_at is None or any(states.get(w, "not_run") == "not_run" for w in wanted):
        return None
    return results


def error_line(stderr: str, exit_code: int | None) -> str:
    """The one line that says why a run died: quantarena's ``error: ...`` line, else the last line
    of a traceback, else the last thing it printed (progress bars left out)."""
    lines = []
    for raw in stderr.splitlines():
        line = raw.split("\r")[-1].strip()
        if line and not re.search(r"\d+%\||\bit/s\]|img/s\]", line):
            lines.append(line)
    errors = [line for line in lines if line.startswith("error:")]
    if errors:
        text = errors[-1].removeprefix("error:").strip()
    elif lines:
        text = lines[-1]
    else:
        text = "no message on stderr"
    if exit_code is not None and exit_code < 0:
        name = signal.Signals(-exit_code).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        text = f"killed by {name}{hint}; last message: {text}"
    return text


def run_model(
    model: str, out: Path, argv: Sequence[str], timeout: float, prefix: str
) -> ModelRun:
    """``quantarena run`` on one model, in its own process group (so a timeout stops its workers
    too); its variant progress lines are echoed under ``prefix``."""
    run_dir = out / model
    logs = out / LOGS
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{model}.args.json").write_text(json.dumps(list(argv)))
    command = [
        sys.executable, "-m", "quantarena", "run", "--model", model,
        *argv, "--out", str(run_dir), "--overwrite",
    ]
    stderr_path = logs / f"{model}.stderr.log"
    launched = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = time.monotonic()
    outcome = "ran"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (
        open(logs / f"{model}.stdout.log", "w") as stdout_log,
        open(stderr_path, "w") as stderr_log,
    ):
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr_log, text=True, env=env,
            start_new_session=True,
        )
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            _stop(proc)

        watchdog = threading.Timer(timeout, expire)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                stdout_log.write(line)
                if line.startswith(("[", "  ")):
                    print(f"{prefix}{line.rstrip()}", flush=True)
            proc.wait()
        except KeyboardInterrupt:
            _stop(proc, signal.SIGINT)
            outcome = "interrupted"
        finally:
            watchdog.cancel()
        if timed_out.is_set():
            outcome = "timed out"
    wall = time.monotonic() - start
    exit_code = proc.returncode
    run = ModelRun(model, run_dir, outcome, exit_code=exit_code, wall_seconds=wall)
    try:
        results: Results | None = load_results(run_dir / RESULTS_FILE)
    except ResultsError:
        results = None
    # a run refused before it emptied the folder leaves an earlier invocation's results there
    if results is not None and dt.datetime.fromisoformat(results.started_at) < launched:
        results = None
    run.results = results
    stderr = stderr_path.read_text(errors="replace")
    if outcome == "timed out":
        run.error = f"the run took longer than {timeout:.0f} s (--model-timeout) and was stopped"
    elif outcome == "interrupted":
        run.error = "interrupted (Ctrl-C) before this variant was measured"
    elif run.results is None or run.results.finished_at is None:
        run.outcome = "crashed"
        run.error = error_line(stderr, exit_code)
    return run


def _stop(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop a run's process group: ``sig`` first (quantarena then saves what it measured), a kill
    if it is still there after 60 s."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


# ---------------------------------------------------------------------------------------------
# The matrix


@dataclass
class Cell:
    """One model × variant: ``status`` ok / unavailable / failed / not run; ``text`` as shown."""

    status: str
    text: str
    p50_ms: float | None = None
    speedup: float | None = None
    baseline: str | None = None
    reason: str | None = None
    footnote: int | None = None


@dataclass
class Footnotes:
    """Reasons, each listed once, numbered in the order they are first used."""

    reasons: list[str] = field(default_factory=list)

    def number(self, reason: str) -> int:
        text = one_line(first_lines(reason))
        if text not in self.reasons:
            self.reasons.append(text)
        return self.reasons.index(text) + 1


def generic(reason: str, model: str) -> str:
    """The reason with the model's name said as "the model" (unless quoted), so that one reason
    given for several models is one footnote."""
    return re.sub(rf"(?<![\w.'\"]){re.escape(model)}(?![\w'\"])", "the model", reason)


def first_lines(text: str, limit: int = REASON_CHARS) -> str:
    """A reason that lists details line by line ("... (35 violations):" then one per line) shown
    by its first line, as much of its first detail as fits, and the count of the rest."""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    if len(lines) <= 2:
        return text
    lead, detail, rest = lines[0], lines[1], f" (+{len(lines) - 2} more lines in results.json)"
    room = limit - len(lead) - len(rest) - 1
    if len(detail) > room:
        detail = detail[: max(room - 1, 0)].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
    return f"{lead} {detail}{rest}"


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    """Whitespace collapsed to single spaces; a line over ``limit`` characters loses its longest
    parenthesized details first, then its middle, so the advice that ends most of quantarena's
    reasons ("...; use pytorch:int8-fx") stays."""
    flat = " ".join(text.split())
    while len(flat) > limit:
        details = [m for m in re.finditer(r"\([^()]{20,}\)", flat)]
        if not details:
            break
        longest = max(details, key=lambda m: len(m.group()))
        flat = flat[: longest.start()] + "(…)" + flat[longest.end():]
    if len(flat) <= limit:
        return flat
    head = flat[: limit * 3 // 5].rsplit(" ", 1)[0]
    tail = flat[len(flat) - (limit - len(head) - 3):]
    tail = tail.split(" ", 1)[1] if " " in tail else tail
    return f"{head} … {tail}"


def variant_cell(results: Results, v: VariantResult) -> tuple[Cell, str | None]:
    """The cell of one measured variant, and the reason to footnote (if any)."""
    if v.status in ("unavailable", "failed"):
        reason = v.reason or f"{v.status} (no reason recorded)"
        return Cell(v.status, v.status, reason=reason), reason
    if v.status == "not_run":
        reason = "not measured: the run stopped before this variant"
        return Cell("not run", "not run", reason=reason), reason
    latency = v.latency_ms
    if latency is None:
        why = v.unavailable.get("latency", "latency was not measured")
        return Cell("ok", "ok (accuracy only)", reason=why), why
    p50 = latency.p50
    if v.precision == "fp32" or v.baseline in (None, v.name):
        note = None if v.precision == "fp32" else (
            f"{v.precision} variant without an FP32 baseline in the run: p50 shown, no speed-up"
        )
        note = note or _contended(v)
        return Cell("ok", f"ok {p50:.1f} ms", p50_ms=p50, reason=note), note
    base = results.variant(v.baseline)
    if base is None or base.status != "ok" or base.latency_ms is None or p50 <= 0:
        state = "not in the run" if base is None else f"{base.status}"
        note = f"no speed-up: its baseline {v.baseline} is {state}; p50 shown"
        return Cell("ok", f"ok {p50:.1f} ms", p50_ms=p50, baseline=v.baseline, reason=note), note
    speedup = base.latency_ms.p50 / p50
    note = _contended(v, base)
    cell = Cell("ok", f"ok {speedup:.1f}×", p50_ms=p50, speedup=speedup, baseline=v.baseline)
    return cell, note


def _contended(*timed: VariantResult) -> str | None:
    """The footnote for a number timed while other processes used the CPU (quantarena's own
    contention note on the variant or its baseline), else ``None``."""
    if any(v.contention is not None and v.contention.row_notes() for v in timed):
        return (
            "timed while other processes used the CPU (see the variant's notes in its "
            "results.json): the number may be far off; on a quiet machine, run the model again "
            "with --force --models MODEL"
        )
    return None


def build_matrix(
    runs: Sequence[ModelRun], variants: Sequence[str]
) -> tuple[dict[str, dict[str, Cell]], Footnotes]:
    """model -> variant -> cell, and the footnotes the cells point at."""
    notes = Footnotes()
    matrix: dict[str, dict[str, Cell]] = {}
    for run in runs:
        row: dict[str, Cell] = {}
        for name in variants:
            results = run.results
            v = results.variant(name) if results is not None else None
            if results is not None and v is not None and not (v.status == "not_run" and run.error):
                cell, reason = variant_cell(results, v)
            elif run.error:
                reason = (
                    f"the run stopped ({run.error})" if run.results is not None else run.error
                )
                cell = Cell("failed", "failed", reason=reason)
            else:
                reason = "not in this model's run"
                cell = Cell("not run", "not run", reason=reason)
            if reason is not None:
                cell.footnote = notes.number(generic(reason, run.model))
                cell.reason = one_line(reason, limit=10_000)
                cell.text = f"{cell.text} [{cell.footnote}]"
            row[name] = cell
        matrix[run.model] = row
    return matrix, notes


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def markdown_table(
    runs: Sequence[ModelRun],
    variants: Sequence[str],
    matrix: dict[str, dict[str, Cell]],
    notes: Footnotes,
) -> str:
    """The table and its numbered reasons."""
    lines = [
        "| Model | Run time | " + " | ".join(variants) + " |",
        "|---|---|" + "---|" * len(variants),
    ]
    for run in runs:
        cells = [matrix[run.model][v].text for v in variants]
        lines.append(
            f"| {run.model} | {duration(run.run_seconds)} | " + " | ".join(cells) + " |"
        )
    lines.append("")
    lines += [f"{i}. {reason}" for i, reason in enumerate(notes.reasons, 1)]
    return "\n".join(lines) + "\n"


def machine_lines(runs: Sequence[ModelRun]) -> list[str]:
    """Each distinct machine the results were measured on (normally one), in quantarena's words."""
    seen: list[str] = []
    for run in runs:
        if run.results is None:
            continue
        env = run.results.environment
        line = f"{env.summary()}. {env.int8_line()}."
        if line not in seen:
            seen.append(line)
    return seen or ["unknown (no model produced results)"]


def render_markdown(
    runs: Sequence[ModelRun],
    variants: Sequence[str],
    matrix: dict[str, dict[str, Cell]],
    notes: Footnotes,
    settings: Sequence[str],
    wall_seconds: float,
    today: str,
) -> str:
    versions = sorted({r.results.tool.version for r in runs if r.results is not None})
    reused = [r.model for r in runs if r.outcome == "reused"]
    run_total = sum(r.run_seconds or 0.0 for r in runs)
    wall = f"{duration(wall_seconds)} (this invocation)"
    if reused:
        wall += (
            f"; {len(reused)} of {len(runs)} models reused from an earlier invocation "
            f"({', '.join(reused)}); every model's run together: {duration(run_total)}"
        )
    counts = {
        status: sum(c.status == status for row in matrix.values() for c in row.values())
        for status in ("ok", "unavailable", "failed", "not run")
    }
    machines = machine_lines(runs)
    parts = [
        "# Model coverage: does quantarena handle my model?",
        "",
        f"Every CPU variant on {len(runs)} torchvision classifiers with random weights "
        "(`--weights none`: speed and size only, accuracy not scored), each model one "
        "`quantarena run`.",
        "",
        f"- Date: {today}",
        *(f"- Machine: {line}" for line in machines),
        f"- quantarena {', '.join(versions) or '?'}; every model ran as "
        f"`quantarena run --model MODEL {' '.join(settings)}`",
        f"- Total wall time: {wall}",
        "- Cells: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n),
        "",
        "`ok N×`: batch-1 p50 latency speed-up over the variant's baseline (the FP32 variant of "
        "its toolchain, named in results.json); `ok N ms`: batch-1 p50 of an FP32 variant; "
        "`ok (accuracy only)`: built and ran, speed not meaningful here. Short latency passes: "
        "indicative, not numbers to quote. `[n]`: the reason below.",
        "",
        markdown_table(runs, variants, matrix, notes),
    ]
    return "\n".join(parts)


def coverage_json(
    runs: Sequence[ModelRun],
    variants: Sequence[str],
    matrix: dict[str, dict[str, Cell]],
    notes: Footnotes,
    settings: Sequence[str],
    wall_seconds: float,
    today: str,
) -> dict[str, Any]:
    machines = []
    for run in runs:
        if run.results is not None:
            env = run.results.environment
            machine = {
                "summary": env.summary(),
                "cpu": env.cpu.model,
                "int8": env.int8_line(),
                "threads": env.threads,
            }
            if machine not in machines:
                machines.append(machine)
    return {
        "date": today,
        "machines": machines,
        "quantarena_run_arguments": list(settings),
        "wall_seconds": round(wall_seconds, 1),
        "variants": list(variants),
        "footnotes": notes.reasons,
        "models": [
            {
                "model": run.model,
                "outcome": run.outcome,
                "run_dir": str(run.run_dir),
                "exit_code": run.exit_code,
                "error": run.error,
                "run_seconds": None if run.run_seconds is None else round(run.run_seconds, 1),
                "cells": {
                    name: {
                        "status": cell.status,
                        "text": cell.text,
                        "p50_ms": cell.p50_ms,
                        "speedup": cell.speedup,
                        "baseline": cell.baseline,
                        "reason": cell.reason,
                        "footnote": cell.footnote,
                    }
                    for name, cell in matrix[run.model].items()
                },
            }
            for run in runs
        ],
    }


def write_coverage(
    out: Path,
    runs: Sequence[ModelRun],
    variants: Sequence[str],
    settings: Sequence[str],
    wall_seconds: float,
) -> str:
    """Write ``coverage.json`` and ``coverage.md`` under ``out``; returns the markdown."""
    matrix, notes = build_matrix(runs, variants)
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    data = coverage_json(runs, variants, matrix, notes, settings, wall_seconds, today)
    text = render_markdown(runs, variants, matrix, notes, settings, wall_seconds, today)
    (out / "coverage.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "coverage.md").write_text(text)
    return text


# ---------------------------------------------------------------------------------------------


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated torchvision classifiers (default: %(default)s)")
    parser.add_argument("--variants", default=None,
                        help="comma-separated variants (default: every variant that needs no GPU)")
    parser.add_argument("--out", type=Path, default=Path("runs/model-coverage"),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--calibration-images", type=int, default=16)
    parser.add_argument("--eval-images", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4,
                        help="training steps of every recipe with a 'steps' knob (QAT)")
    parser.add_argument("--recipe", action="append", default=[], metavar="VARIANT.KNOB=VALUE",
                        help="passed on to quantarena run (repeatable)")
    parser.add_argument("--data", default=None, help="image folder (default: quantarena's)")
    parser.add_argument("--cache-dir", default=None, help="preprocessed-image cache")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model-timeout", type=float, default=3600.0,
                        help="seconds one model's run may take (default: %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="run every model again, even one with finished results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    models = split(args.models)
    try:
        variants = split(args.variants) if args.variants else cpu_variants()
        for variant in variants:
            parse_variant(variant)
        settings = run_arguments(args, variants)
    except QuantarenaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(f"{len(models)} models × {len(variants)} variants: {', '.join(variants)}")
    start = time.monotonic()
    runs: list[ModelRun] = []
    interrupted = False
    for index, model in enumerate(models, 1):
        elapsed = duration(time.monotonic() - start)
        header = f"[model {index}/{len(models)}] {model} (elapsed {elapsed})"
        done = None if args.force else finished_results(out / model, variants, settings)
        if done is not None:
            print(f"{header}: finished results found, reused (--force runs it again)")
            runs.append(ModelRun(model, out / model, "reused", results=done))
            continue
        print(header, flush=True)
        run = run_model(model, out, settings, args.model_timeout, prefix="    ")
        runs.append(run)
        if run.error:
            print(f"    {run.outcome}: {run.error}")
        print(f"    {model}: {run.outcome} in {duration(run.wall_seconds)}", flush=True)
        if run.outcome == "interrupted":
            interrupted = True
            break
    wall = time.monotonic() - start
    text = write_coverage(out, runs, variants, settings, wall)
    print()
    print(text)
    print(f"written: {out / 'coverage.md'}, {out / 'coverage.json'}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
