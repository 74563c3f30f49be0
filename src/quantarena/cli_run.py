"""``quantarena run``: its flags, generated from the typed config (so every option and its default
appear in ``--help`` exactly as the config defines them), and the command itself, including what
an interrupted run prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

import yaml

from quantarena.cli_matrix import add_cluster_flags, cmd_run_cluster
from quantarena.config import MeasureConfig, RunConfig, default_variants
from quantarena.errors import ConfigError, one_line
from quantarena.serving.config import ScenarioConfig

if TYPE_CHECKING:
    from quantarena.results.schema import Results
    from quantarena.runner.interrupt import RunInterrupted

# Fields set another way (variants: comma list; recipes: --recipe; measure, scenarios: their own
# flags).
_SPECIAL = {"variants", "recipes", "measure", "scenarios"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _default_text(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) if value else "none"
    return "none" if value is None else str(value)


def _add_model_flags(
    parser: argparse._ActionsContainer, model: type[Any], dest_prefix: str,
    skip: set[str] = _SPECIAL,
) -> None:
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        annotation = field.annotation
        is_seq = get_origin(annotation) in (list, tuple) or any(
            get_origin(a) in (list, tuple) for a in get_args(annotation)
        )
        metavar = "A,B,..." if is_seq else name.upper()
        help_text = (field.description or "").replace("%", "%%")
        shown = "" if "default" in help_text else f" (default: {_default_text(field)})"
        parser.add_argument(
            _flag(name),
            dest=f"{dest_prefix}{name}",
            metavar=metavar,
            default=None,
            help=f"{help_text}{shown}",
        )


def _parse_recipe_option(text: str) -> tuple[str, str, Any]:
    """``onnxruntime:int8.calibration_method=entropy`` -> (variant, knob, value)."""
    key, sep, raw = text.partition("=")
    variant, dot, knob = key.rpartition(".")
    if not sep or not dot or not variant or not knob:
        raise ConfigError(
            f"--recipe {text!r} must look like VARIANT.KNOB=VALUE, e.g. "
            "onnxruntime:int8.calibration_method=entropy"
        )
    try:
        return variant, knob, yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"--recipe {text!r}: the value is not valid YAML ({one_line(exc)})"
        ) from exc


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {"measure": {}, "scenarios": {}}
    models: dict[str, type[Any]] = {"cfg_": RunConfig, "msr_": MeasureConfig,
                                    "scn_": ScenarioConfig}
    for key, value in vars(args).items():
        if value is None or key[:4] not in models:
            continue
        field_name = key[4:]
        model = models[key[:4]]
        annotation = model.model_fields[field_name].annotation
        is_seq = get_origin(annotation) in (list, tuple) or any(
            get_origin(a) in (list, tuple) for a in get_args(annotation)
        )
        parsed: Any = split_list(value) if is_seq else value
        if key.startswith("cfg_"):
            overrides[field_name] = parsed
        else:
            overrides["measure" if key.startswith("msr_") else "scenarios"][field_name] = parsed
    if args.variants:
        overrides["variants"] = split_list(args.variants)
    return overrides


def add_run_parser(commands: Any) -> None:
    """The ``run`` subcommand and its flags."""
    run = commands.add_parser(
        "run",
        help="quantize and measure every variant",
        description="Quantize a model with every requested toolchain and measure each result in "
                    "its own process.",
    )
    run.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML file with any of these settings; flags override it",
    )
    run.add_argument(
        "--variants",
        default=None,
        help="comma-separated TOOLCHAIN:RECIPE list (default: "
        + ", ".join(default_variants())
        + "); see 'quantarena list'",
    )
    run.add_argument(
        "--recipe",
        action="append",
        default=[],
        metavar="VARIANT.KNOB=VALUE",
        help="set one recipe knob, e.g. onnxruntime:int8.calibration_method=entropy (repeatable)",
    )
    folder = run.add_mutually_exclusive_group()
    folder.add_argument(
        "--resume",
        action="store_true",
        help="finish the run in --out: measure only the variants that are missing or not ok, "
        "after checking that config, model, data, machine and package versions match",
    )
    folder.add_argument(
        "--overwrite",
        action="store_true",
        help="empty --out (an earlier quantarena run) before running; without --resume or "
        "--overwrite a non-empty --out is refused",
    )
    _add_model_flags(run, RunConfig, "cfg_")
    add_cluster_flags(run)
    measure = run.add_argument_group("measurement")
    _add_model_flags(measure, MeasureConfig, "msr_")
    serving = run.add_argument_group("serving scenarios (MLPerf LoadGen)")
    _add_model_flags(serving, ScenarioConfig, "scn_", skip={"mlperf_official"})
    serving.add_argument(
        "--mlperf-official", dest="scn_mlperf_official", action="store_const", const=True,
        default=None, help=ScenarioConfig.model_fields["mlperf_official"].description,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from quantarena.config import load_config
    from quantarena.report.markdown import write_markdown
    from quantarena.report.table import markdown_table
    from quantarena.runner.interrupt import RunInterrupted
    from quantarena.runner.pipeline import run_benchmark

    overrides = _overrides(args)
    if args.recipe:
        recipes: dict[str, dict[str, Any]] = {}
        for text in args.recipe:
            variant, knob, value = _parse_recipe_option(text)
            recipes.setdefault(variant, {})[knob] = value
        overrides["recipes"] = recipes
    config = load_config(args.config, overrides)
    for line in config.warnings():  # said once, here, before the run starts
        print(f"warning: {line}", file=sys.stderr)
    if args.cluster is not None or args.platforms is not None:
        return cmd_run_cluster(args, config)
    mode: Literal["new", "resume", "overwrite"] = (
        "resume" if args.resume else "overwrite" if args.overwrite else "new"
    )
    try:
        results = run_benchmark(config, log=lambda line: print(line, flush=True), mode=mode)
    except RunInterrupted as exc:
        return _interrupted(exc, getattr(args, "argv", None))
    out = Path(results.config["out"])  # the resolved output folder
    write_markdown(results, out)
    write_html(results, out)
    print()
    print(markdown_table(results))
    print(f"\nresults: {out / 'results.json'}\nreport:  {out / 'report.md'}")
    return 1 if any(v.status == "failed" for v in results.variants) else 0


def _interrupted(exc: RunInterrupted, argv: list[str] | None) -> int:
    """Write the reports of what was measured and say, in one line, how to finish the run."""
    from quantarena.report.markdown import write_markdown
    from quantarena.runner.interrupt import resume_command, signals_ignored

    out = exc.out or Path(".")
    with signals_ignored():
        if exc.results is None:
            what = "before anything was measured"
        else:
            write_markdown(exc.results, out)
            write_html(exc.results, out)
            done = sum(v.status != "not_run" for v in exc.results.variants)
            what = (
                f"after {done} of {len(exc.results.variants)} variants; the others are not_run "
                f"rows in {out / 'results.json'} (reports: report.md, report.html)"
            )
            if done == len(exc.results.variants):
                what = (
                    f"during the interleaved rounds; every row and the rounds timed so far are "
                    f"in {out / 'results.json'} (reports: report.md, report.html)"
                )
        print(
            f"interrupted by {exc.name} {what}; to finish: {resume_command(argv, out)}",
            file=sys.stderr,
        )
    return exc.exit_code


def write_html(results: Results, out: Path) -> None:
    from quantarena.report.html import write_html

    write_html(results, out)
