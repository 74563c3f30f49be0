"""The run folder: a new run never lands on top of an earlier one.

A second run into the same ``--out`` used to replace ``results.json`` and leave the earlier logs
and artifacts mixed in with the new ones. Now a non-empty folder is refused unless the user says
what they want: ``--resume`` (finish the run in it) or ``--overwrite`` (empty it first). Only a
folder that is recognisably a quantarena run is ever emptied, so a mistyped ``--out`` cannot
delete someone's files.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from quantarena import __version__
from quantarena.errors import ConfigError, OutputError
from quantarena.outdir import ensure_output_dir
from quantarena.results.io import RESULTS_FILE, load_results
from quantarena.results.schema import Results

#: how ``run`` treats its output folder
OutMode = Literal["new", "resume", "overwrite"]
#: written first into every run folder: what makes it recognisably ours before results.json exists
MARKER = ".quantarena"


def is_run_folder(out: Path) -> bool:
    return (out / MARKER).exists() or (out / RESULTS_FILE).exists()


def _clear(out: Path) -> None:
    for entry in out.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@contextmanager
def in_use(out: Path) -> Iterator[None]:
    """Hold the run folder for as long as this run lasts (an advisory lock on its marker, which
    the kernel drops when the process ends, however it ends): a second run resuming or emptying
    a folder that a live run is still writing is refused instead of mixing two runs' files."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks; the other folder checks still apply
        yield
        return
    with (out / MARKER).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"--out {out} is in use by another quantarena run: let it finish, or stop it, "
                "first"
            ) from None
        yield


def open_out(out: Path, mode: OutMode, log: Callable[[str], None]) -> Results | None:
    """Make ``out`` ready for ``mode``; returns the earlier results to resume (else ``None``).

    Refuses (exit 2, one line) a non-empty folder without ``--resume``/``--overwrite``,
    emptying or resuming a folder that is not a quantarena run, and one a live run is using.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"output folder {out} is an existing file, not a folder: pass another --out"
        )
    if (out / MARKER).exists():
        with in_use(out):
            pass  # refused here, before anything is emptied, if a live run holds it
    empty = not out.exists() or not any(out.iterdir())
    earlier: Results | None = None
    if mode == "new" and not empty:
        raise ConfigError(
            f"--out {out} is not empty: add --resume to finish the run in it, or --overwrite to "
            "empty it and start again"
        )
    if not empty and not is_run_folder(out):
        raise ConfigError(
            f"--{mode} {out}: the folder holds no quantarena run (no {RESULTS_FILE}, no {MARKER});"
            " refusing to touch it"
        )
    if mode == "overwrite" and not empty:
        log(f"emptying {out} (--overwrite)")
        _clear(out)
    elif mode == "resume" and (out / RESULTS_FILE).exists():
        earlier = load_results(out)
    elif mode == "resume" and not empty:
        # Stopped before anything was measured (no results.json yet): nothing to keep.
        log(f"nothing was measured in {out} yet: starting the run again")
        _clear(out)
    elif mode == "resume":
        log(f"nothing to resume in {out}: starting a new run")
    ensure_output_dir(out)  # created, and proven writable, before an hour of building
    if not (out / MARKER).exists():
        (out / MARKER).write_text(f"quantarena {__version__} run folder\n")
    return earlier
