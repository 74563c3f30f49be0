"""Ctrl-C and SIGTERM stop a run at a safe point instead of wherever the signal lands.

A run spends nearly all its time waiting for a worker; there a signal stops at once (the launcher
kills the worker's process group). Anywhere else in the orchestrator (saving a row, comparing
predictions) the signal is only recorded and acted on at the next safe point, so a variant that
has just been measured is never dropped on its way into ``results.json``.
"""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quantarena.results.schema import Results

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(BaseException):
    """A run stopped by a signal. A ``BaseException`` like ``KeyboardInterrupt``, so that no
    ``except Exception`` between the signal and the pipeline can swallow it. The pipeline attaches
    what it saved (``results``, ``None`` when nothing was measured yet) and the run folder."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.results: Results | None = None
        self.out: Path | None = None
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class Stop:
    """The signal state of one run: the first stop signal is kept; later ones are ignored so the
    clean-up that writes the results cannot itself be cut short."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._waiting = False

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is not None:
            return
        self.signum = signum
        if self._waiting:
            raise RunInterrupted(signum)

    def check(self) -> None:
        """A safe point: act on a signal that arrived since the last one."""
        if self.signum is not None:
            raise RunInterrupted(self.signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A stretch (waiting for a worker, preprocessing images) that a signal may cut short."""
        self.check()
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False


def _in_main_thread() -> bool:
    # Python delivers signals to the main thread only, and only it may install handlers.
    return threading.current_thread() is threading.main_thread()


@contextmanager
def stop_signals() -> Iterator[Stop]:
    """SIGINT and SIGTERM handled by a fresh ``Stop`` for the duration; the previous handlers come
    back afterwards (a run called from another thread gets a ``Stop`` that never fires)."""
    stop = Stop()
    if not _in_main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, stop.handle) for s in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """While the reports of an interrupted run are written, a second Ctrl-C must not leave half of
    them behind; SIGKILL still works for someone who really means it."""
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def resume_command(argv: list[str] | None, out: Path) -> str:
    """The command that finishes an interrupted run: the user's own ``run`` arguments (``argv``,
    as given after ``quantarena``), with ``--resume`` and the output folder it used."""
    if argv is None or "run" not in argv:
        return f"quantarena run --resume --out {shlex.quote(str(out))} ..."
    rest = [a for a in argv[argv.index("run") + 1 :] if a not in ("--resume", "--overwrite")]
    if not any(a == "--out" or a.startswith("--out=") for a in rest):
        rest = ["--out", str(out), *rest]
    return shlex.join(["quantarena", "run", "--resume", *rest])
