"""Command line: parses, calls the API, prints. Flags of ``run`` are generated from the typed
config, so every option and its default appear in ``--help`` exactly as the config defines them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

import yaml

from quantarena import __version__
from quantarena.config import MeasureConfig, RunConfig, default_variants
from quantarena.errors import ConfigError, QuantarenaError

if TYPE_CHECKING:
    from quantarena.results.schema import Results

# Fields set another way (variants: comma list; recipes: --recipe; measure: its own flags).
_SPECIAL = {"variants", "recipes", "measure"}


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
    parser: argparse._ActionsContainer, model: type[Any], dest_prefix: str
) -> None:
    for name, field in model.model_fields.items():
        if name in _SPECIAL:
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
    return variant, knob, yaml.safe_load(raw)


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {"measure": {}}
    for key, value in vars(args).items():
        if value is None or not key.startswith(("cfg_", "msr_")):
            continue
        field_name = key[4:]
        model = RunConfig if key.startswith("cfg_") else MeasureConfig
        annotation = model.model_fields[field_name].annotation
        is_seq = get_origin(annotation) in (list, tuple) or any(
            get_origin(a) in (list, tuple) for a in get_args(annotation)
        )
        parsed: Any = _split_list(value) if is_seq else value
        if key.startswith("cfg_"):
            overrides[field_name] = parsed
        else:
            overrides["measure"][field_name] = parsed
    if args.variants:
        overrides["variants"] = _split_list(args.variants)
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantarena",
        description="Benchmark model-quantization toolchains fairly on your model, data and "
                    "machine.",
    )
    parser.add_argument("--version", action="version", version=f"quantarena {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

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
    _add_model_flags(run, RunConfig, "cfg_")
    measure = run.add_argument_group("measurement")
    _add_model_flags(measure, MeasureConfig, "msr_")

    listing = commands.add_parser(
        "list", help="toolchains and variants, and whether each is available here"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    report = commands.add_parser(
        "report", help="regenerate report.md (and report.html) from results.json"
    )
    report.add_argument("run_dir", type=Path)

    compare = commands.add_parser(
        "compare",
        help="put two runs side by side, or two variants of one run image by image",
        description="quantarena compare RUN_A RUN_B: variants of two runs side by side, with "
                    "warnings where the "
        "setups differ. quantarena compare RUN_DIR --variants A,B: paired accuracy statistics of "
        "variant B vs A from their per-image predictions.",
    )
    compare.add_argument("run_a", type=Path)
    compare.add_argument("run_b", type=Path, nargs="?", default=None)
    compare.add_argument(
        "--variants",
        default=None,
        metavar="A,B",
        help="compare two variants of RUN_A on the same images (B relative to A)",
    )
    compare.add_argument(
        "--out", type=Path, default=None, help="write the comparison as Markdown here"
    )
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from quantarena.config import load_config
    from quantarena.report.markdown import write_markdown
    from quantarena.report.table import markdown_table
    from quantarena.runner.pipeline import run_benchmark

    overrides = _overrides(args)
    if args.recipe:
        recipes: dict[str, dict[str, Any]] = {}
        for text in args.recipe:
            variant, knob, value = _parse_recipe_option(text)
            recipes.setdefault(variant, {})[knob] = value
        overrides["recipes"] = recipes
    config = load_config(args.config, overrides)
    results = run_benchmark(config, log=lambda line: print(line, flush=True))
    out = Path(results.config["out"])  # the resolved output folder
    write_markdown(results, out)
    _write_html(results, out)
    print()
    print(markdown_table(results))
    print(f"\nresults: {out / 'results.json'}\nreport:  {out / 'report.md'}")
    return 1 if any(v.status == "failed" for v in results.variants) else 0


def _write_html(results: Results, out: Path) -> None:
    from quantarena.report.html import write_html

    write_html(results, out)


def cmd_list(args: argparse.Namespace) -> int:
    import json

    from quantarena.toolchains import registered_toolchains

    rows = []
    for toolchain in registered_toolchains():
        for name, recipe in toolchain.recipes.items():
            problem = toolchain.unavailable(name)
            rows.append(
                {
                    "variant": f"{toolchain.name}:{name}",
                    "precision": recipe.precision,
                    "available": problem is None,
                    "reason": problem.reason if problem else "",
                    "summary": recipe.summary,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(str(r["variant"])) for r in rows)
    for r in rows:
        state = "available" if r["available"] else f"unavailable: {r['reason']}"
        print(f"{r['variant']:<{width}}  {r['precision']:<5}  {state}")
        if r["summary"]:
            print(f"{'':<{width}}         {r['summary']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from quantarena.report.markdown import write_markdown
    from quantarena.report.table import markdown_table
    from quantarena.results.io import load_results

    results = load_results(args.run_dir)
    write_markdown(results, args.run_dir)
    _write_html(results, args.run_dir)
    print(markdown_table(results))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from quantarena.report.compare import compare_runs, compare_variants

    if args.variants is not None:
        names = _split_list(args.variants)
        if len(names) != 2 or args.run_b is not None:
            raise ConfigError(
                "use: quantarena compare RUN_DIR --variants A,B (two variants of one run)"
            )
        text = compare_variants(args.run_a, names[0], names[1]).to_markdown()
    elif args.run_b is None:
        raise ConfigError(
            "use: quantarena compare RUN_A RUN_B, or quantarena compare RUN_DIR --variants A,B"
        )
    else:
        text = compare_runs(args.run_a, args.run_b)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"run": cmd_run, "list": cmd_list, "report": cmd_report, "compare": cmd_compare}
    try:
        return handlers[args.command](args)
    except QuantarenaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "interrupted: results measured so far are in the output folder's results.json",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
