"""Command line: parses, calls the API, prints. One module per group of commands (``cli_run``,
``cli_tools``); this one builds the parser and turns every user error into one line and its exit
code (the table in ``quantarena.errors``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from quantarena import __version__
from quantarena.cli_matrix import add_matrix_parsers, cmd_merge
from quantarena.cli_run import add_run_parser, cmd_run
from quantarena.cli_tools import add_tool_parsers, cmd_cache, cmd_compare, cmd_list, cmd_report
from quantarena.cli_tune import add_tune_parser, cmd_tune
from quantarena.config import RUNS_DIR
from quantarena.errors import QuantarenaError, one_line
from quantarena.outdir import output_error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantarena",
        description="Benchmark model-quantization toolchains fairly on your model, data and "
                    "machine.",
    )
    parser.add_argument("--version", action="version", version=f"quantarena {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    add_run_parser(commands)
    add_tune_parser(commands)
    add_tool_parsers(commands)
    add_matrix_parsers(commands)
    return parser


def _fail(exc: QuantarenaError) -> int:
    """One line on stderr and the error's exit code (the table in ``quantarena.errors``): a
    user's mistake never ends in a traceback."""
    print(f"error: {one_line(exc)}", file=sys.stderr)
    return exc.exit_code


def _output_roots(args: argparse.Namespace) -> list[Path]:
    """Where this command writes: an ``OSError`` on a path under these is an output problem
    (exit 7), not a bug. ``run`` writes under ``--out`` (default ``runs/``), ``compare`` to its
    ``--out`` file, ``report`` into the run folder it reads."""
    roots = [getattr(args, name, None) for name in ("cfg_out", "out")]
    if args.command in ("run", "tune") and roots[0] is None:
        roots.append(RUNS_DIR)
    if args.command == "report":
        roots.append(args.run_dir)
    return [Path(root) for root in roots if root is not None]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # an interrupted run prints the command that finishes it
    handlers = {
        "run": cmd_run,
        "tune": cmd_tune,
        "list": cmd_list,
        "report": cmd_report,
        "compare": cmd_compare,
        "cache": cmd_cache,
        "merge": cmd_merge,
    }
    try:
        return handlers[args.command](args)
    except QuantarenaError as exc:
        return _fail(exc)
    except OSError as exc:
        error = output_error(exc, _output_roots(args))
        if error is None:
            raise  # not about what we write: a bug, so it keeps its traceback to be reported
        return _fail(error)
    except KeyboardInterrupt:
        print(
            "interrupted: results measured so far are in the output folder's results.json",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
