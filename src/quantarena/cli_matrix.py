"""``quantarena merge``: runs of the same plan from several machines as one platform × variant
matrix."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from quantarena.errors import ConfigError


def add_matrix_parsers(commands: Any) -> None:
    merge = commands.add_parser(
        "merge",
        help="merge runs from several machines into a platform × variant matrix",
        description="quantarena merge RUN_DIR... --out DIR: one column group per platform, one "
        "row per variant; the best variant per platform within --max-drop, where the fastest or "
        "most accurate variant changes between platforms, and each variant's accuracy compared "
        "across platforms image by image. Writes matrix.json, matrix.md and matrix.html.",
    )
    merge.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    merge.add_argument("--out", type=Path, required=True, help="folder for the matrix files")
    merge.add_argument(
        "--max-drop", type=float, default=1.0, metavar="PP",
        help="accuracy budget: the best variant loses at most this many percentage points of "
        "FP32 top-1 (default: 1.0)",
    )


def cmd_merge(args: argparse.Namespace) -> int:
    from quantarena.matrix.markdown import render_markdown
    from quantarena.matrix.write import merge_runs

    if not math.isfinite(args.max_drop) or args.max_drop < 0:
        raise ConfigError(f"--max-drop must be a number of percentage points >= 0, "
                          f"not {args.max_drop}")
    matrix = merge_runs(list(args.run_dirs), args.out, args.max_drop)
    print(render_markdown(matrix))
    print(f"matrix: {args.out / 'matrix.md'}, {args.out / 'matrix.html'}, "
          f"{args.out / 'matrix.json'}")
    return 0


def add_cluster_flags(run: Any) -> None:
    """``run --cluster ADDRESS [--platforms A,B]``."""
    group = run.add_argument_group("cluster (needs the 'cluster' extra: Ray)")
    group.add_argument(
        "--cluster", default=None, metavar="ADDRESS",
        help="run the same plan on every node of this Ray cluster (HOST:PORT of its head, or "
        "auto; not ray:// Ray Client): one run folder per platform under --out, and "
        "matrix.md/.html/.json",
    )
    group.add_argument(
        "--platforms", default=None, metavar="A,B,...",
        help="with --cluster: only the nodes with these labels (VALUE or KEY=VALUE) or custom "
        "resources (default: every node)",
    )


def cmd_run_cluster(args: argparse.Namespace, config: Any) -> int:
    from quantarena.cli_run import split_list
    from quantarena.cluster.run import run_cluster
    from quantarena.matrix.markdown import render_markdown

    if args.cluster is None:
        raise ConfigError("--platforms selects nodes of a cluster: add --cluster ADDRESS")
    if args.resume or args.overwrite:
        raise ConfigError("--resume and --overwrite apply to a local run, not to --cluster")
    platforms = split_list(args.platforms) if args.platforms else None
    done = run_cluster(config, args.cluster, platforms, log=lambda line: print(line, flush=True))
    print()
    print(render_markdown(done.matrix))
    for outcome in done.outcomes:
        print(f"{outcome.node.name}: {outcome.folder / 'results.json'}")
    print(f"matrix: {done.out / 'matrix.md'}, {done.out / 'matrix.html'}")
    failed = any(v.status == "failed" for o in done.outcomes
                 for v in _rows(o.folder))
    return 1 if failed else 0


def _rows(folder: Path) -> list[Any]:
    from quantarena.results.io import load_results

    return list(load_results(folder).variants)
