"""The commands that read results or manage state: ``list``, ``report``, ``compare``, ``cache``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from quantarena.cli_run import split_list, write_html
from quantarena.errors import ConfigError


def add_tool_parsers(commands: Any) -> None:
    """The ``list``, ``report``, ``compare`` and ``cache`` subcommands."""
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

    cache = commands.add_parser(
        "cache",
        help="list (and verify) or clear the preprocessed-image cache",
        description="quantarena cache info: every cached split with its size and dates, each "
        "verified against its content hash. quantarena cache clear: remove entries (all, or "
        "those not used for --older-than DAYS).",
    )
    cache.add_argument("action", choices=["info", "clear"])
    cache.add_argument(
        "--cache-dir", type=Path, default=None, help="cache folder (default: ~/.cache/quantarena)"
    )
    cache.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="clear only entries not used for this many days",
    )


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
    write_html(results, args.run_dir)
    print(markdown_table(results))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from quantarena.report.compare import compare_runs, compare_variants

    if args.variants is not None:
        names = split_list(args.variants)
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


def cmd_cache(args: argparse.Namespace) -> int:
    from quantarena.data import cache_admin

    cache_dir = args.cache_dir.expanduser() if args.cache_dir else cache_admin.default_cache_dir()
    if args.action == "info":
        if args.older_than is not None:
            raise ConfigError("--older-than applies to 'quantarena cache clear' only")
        print(cache_admin.format_info(cache_dir, cache_admin.scan_cache(cache_dir)))
    else:
        cleared = cache_admin.clear_cache(cache_dir, args.older_than)
        print(cache_admin.format_cleared(cache_dir, cleared, args.older_than))
    return 0
