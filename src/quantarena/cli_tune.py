"""``quantarena tune``: ``run``'s model, data and platform flags, plus the budget and the search
limits; prints the final table and where ``tune.json`` is."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from quantarena.cli_run import _add_model_flags, _overrides, split_list
from quantarena.config import RunConfig

DEFAULT_MAX_DROP = 0.5
DEFAULT_MAX_TRIALS = 6
DEFAULT_TIME_BUDGET = 1800.0
DEFAULT_VALIDATION_IMAGES = 300


def add_tune_parser(commands: Any) -> None:
    from quantarena.toolchains.registry import DEFAULT_TUNE_VARIANTS

    tune = commands.add_parser(
        "tune",
        help="search each INT8 recipe's knobs for the fastest candidate within a top-1 budget",
        description="Search the declared knobs of each INT8 recipe (calibration method and "
        "images, per-channel, symmetric activations, the CPU's saturation remedy, bias "
        "correction ...) with Optuna; every candidate is built and measured for real on a "
        "validation split. The chosen candidates are measured once on a separate evaluation "
        "split. Rerun with the same --out to continue a search.",
    )
    tune.set_defaults(variants=None)
    tune.add_argument("--config", type=Path, default=None,
                      help="YAML file with any of run's settings; flags override it")
    tune.add_argument("--max-drop", type=float, default=None, metavar="PP",
                      help="top-1 budget: the most a candidate may lose vs FP32 on the "
                      f"validation split, in percentage points (default: {DEFAULT_MAX_DROP}; "
                      "with --study, drawn as a line on the chart only when given)")
    tune.add_argument("--variants", dest="tune_variants", default=None, metavar="A,B,...",
                      help="INT8 variants whose spaces are searched (default: "
                      + ", ".join(DEFAULT_TUNE_VARIANTS) + ")")
    tune.add_argument("--max-trials", type=int, default=DEFAULT_MAX_TRIALS, metavar="N",
                      help="trials per variant, the plain recipe first (default: "
                      f"{DEFAULT_MAX_TRIALS})")
    tune.add_argument("--time-budget", type=float, default=DEFAULT_TIME_BUDGET, metavar="S",
                      help="seconds of searching, shared out over the variants; no new trial "
                      "starts after it; the final evaluation comes on top (default: "
                      f"{DEFAULT_TIME_BUDGET:.0f})")
    tune.add_argument("--validation-images", type=int, default=DEFAULT_VALIDATION_IMAGES,
                      metavar="N", help="images every tuning decision is made on, apart from "
                      "calibration and evaluation (default: "
                      f"{DEFAULT_VALIDATION_IMAGES}; evaluation: --eval-images, else the rest)")
    tune.add_argument("--study", default=None, metavar="NAME",
                      help="run a study instead of the search: 'calibration' measures Δ top-1 "
                      "(95%% CI, validation split) per calibration method and image count of each "
                      "variant, with a chart; same --out as a search to keep both")
    tune.add_argument("--study-counts", default=None, metavar="A,B,...",
                      help="calibration image counts of the study (default: 8,32,128 and the "
                      "whole calibration split, those that fit it)")
    _add_model_flags(tune, RunConfig, "cfg_")


def cmd_tune(args: argparse.Namespace) -> int:
    from quantarena.config import load_config
    from quantarena.toolchains.registry import DEFAULT_TUNE_VARIANTS
    from quantarena.tune.pipeline import TuneInterrupted, run_tune
    from quantarena.tune.setup import TuneSettings
    from quantarena.tune.study import summary
    from quantarena.tune.study_chart import CALIBRATION_PNG
    from quantarena.tune.study_plan import parse_study
    from quantarena.tune.table import final_table, verdict, write_markdown

    config = load_config(args.config, _overrides(args))
    for line in config.warnings():
        print(f"warning: {line}", file=sys.stderr)
    settings = TuneSettings(
        max_drop_pp=DEFAULT_MAX_DROP if args.max_drop is None else args.max_drop,
        variants=split_list(args.tune_variants) if args.tune_variants else
        list(DEFAULT_TUNE_VARIANTS),
        max_trials=args.max_trials,
        time_budget_s=args.time_budget,
        validation_images=args.validation_images,
        study=parse_study(args.study, args.study_counts, args.max_drop),
    )
    try:
        record = run_tune(config, settings, log=lambda line: print(line, flush=True))
    except TuneInterrupted as exc:
        kept = len(exc.record.trials) if exc.record is not None else 0
        what = "trial(s)"
        if settings.study is not None:
            study = exc.record.study if exc.record is not None else None
            kept, what = (len(study.points) if study is not None else 0), "study point(s)"
        print(f"interrupted by {exc.name}: {kept} {what} are kept in tune.json; rerun the "
              "same command to continue", file=sys.stderr)
        return exc.exit_code
    out = Path(record.config["out"])
    write_markdown(record, out)
    print()
    if settings.study is not None:
        chart = out / CALIBRATION_PNG
        print(summary(record, out, chart if chart.exists() else None))
        return 0
    print(verdict(record))
    print(final_table(record))
    print(f"\ntrials: {out / 'tune.json'}\nreport: {out / 'tune.md'}")
    return 0
