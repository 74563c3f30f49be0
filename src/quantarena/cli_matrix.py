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
