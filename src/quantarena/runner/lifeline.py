"""A worker never outlives the run that started it.

Workers run in their own session (so a terminal's Ctrl-C reaches only the orchestrator, which then
stops them), which also means nothing stops them when the orchestrator is SIGKILLed: an orphaned
measuring worker would keep a core busy up to its timeout and skew whatever is measured next on the
machine. On Linux the kernel's parent-death signal kills the worker the moment its parent dies;
elsewhere a watchdog thread polls the parent pid every second. The watchdog runs only where the
kernel cannot do the job: an extra thread waking up inside a measuring process is noise we avoid.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

#: set by the launcher: the pid a worker must keep as its parent
PARENT_ENV = "QUANTARENA_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def expected_parent() -> int:
    """The orchestrator's pid as the launcher recorded it (a worker started by hand: its parent)."""
    value = os.environ.get(PARENT_ENV, "")
    return int(value) if value.isdigit() else os.getppid()


def _set_parent_death_signal(signum: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _die() -> None:
    """Exit now, taking the worker's own process group along (runtimes' helper processes) when
    the worker leads it, as it does when the launcher started it."""
    if os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


def _watch(parent: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            _die()


def guard_parent(parent: int, *, use_prctl: bool = True, interval: float = 1.0) -> str:
    """Make this process die with ``parent``; returns how (``prctl`` or ``watchdog``).

    The parent may already have died before the signal was armed (the kernel only signals deaths
    that happen afterwards), so the parent pid is checked again right after arming it.
    """
    how = "prctl" if use_prctl and _set_parent_death_signal(signal.SIGKILL) else "watchdog"
    if os.getppid() != parent:
        _die()
    if how == "watchdog":
        threading.Thread(
            target=_watch, args=(parent, interval), name="parent-watchdog", daemon=True
        ).start()
    return how
