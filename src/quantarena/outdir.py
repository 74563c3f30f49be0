"""The run's output folder, and the one place that turns "cannot write there" into exit 7.

A run writes for an hour; finding out at the end that ``--out`` is a file, or not writable,
wastes the hour. So the folder is created and proven writable before anything is built
(``ensure_output_dir``), and any ``OSError`` that later hits a path quantarena writes, or says the
disk is full, is reported as one line naming the path (``output_error``) instead of a traceback.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from quantarena.errors import OutputError

#: errno values that mean "the place we write to cannot take it", wherever it is: nothing our
#: code could do differently, so never a bug to report with a traceback.
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def _reason(exc: OSError) -> str:
    """The OS's own words ("Permission denied", "No space left on device"), without the
    ``[Errno N]`` prefix and the repeated file name ``str(OSError)`` carries."""
    return exc.strerror or type(exc).__name__


def ensure_output_dir(path: Path) -> Path:
    """``path`` created if missing (with its parents), checked to be a writable folder by
    writing and removing a probe file, and returned resolved. Raises ``OutputError`` (exit 7)
    naming the folder otherwise: the probe catches a read-only mount or a full disk now, not at
    the first ``results.json`` after the first build."""
    target = path.expanduser()
    if target.exists() and not target.is_dir():
        raise OutputError(
            f"output folder {target} is an existing file, not a folder: pass another --out"
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix=".quantarena-write-check-"):
            pass
    except OSError as exc:
        raise OutputError(
            f"cannot write the output folder {target}: {_reason(exc)}"
            + (f" ({exc.filename})" if exc.filename and Path(exc.filename) != target else "")
        ) from exc
    return target.resolve()


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    resolved = Path(os.path.abspath(path.expanduser()))
    for root in roots:
        base = Path(os.path.abspath(root.expanduser()))
        if resolved == base or base in resolved.parents:
            return True
    return False


def output_error(exc: OSError, output_roots: Iterable[Path]) -> OutputError | None:
    """``exc`` as an ``OutputError`` when it is about writing output: its file lies in one of
    ``output_roots`` (the command's output folders), or the file system is full or read-only.
    ``None`` otherwise, so the caller re-raises it: an ``OSError`` anywhere else is a bug (or
    belongs to a data or model error that should have been raised as one) and keeps its
    traceback."""
    names = [Path(os.fsdecode(n)) for n in (exc.filename, exc.filename2) if n is not None]
    roots = list(output_roots)
    inside = [name for name in names if _inside(name, roots)]
    if exc.errno in NO_ROOM or inside:
        where = str((inside + names)[0]) if inside or names else "output"
        return OutputError(f"cannot write {where}: {_reason(exc)}")
    return None


__all__ = ["NO_ROOM", "ensure_output_dir", "output_error"]
