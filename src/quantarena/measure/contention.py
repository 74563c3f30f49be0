"""Was anything else using the CPU while a variant was measured? System-wide busy time minus this
process's own CPU time, over the measurement window. A shared machine is the commonest reason two
runs disagree; this puts the evidence on the row instead of leaving it to guesswork."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import psutil

from quantarena.results.measurements import Contention


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return float(sum(times) - idle)


def _own_seconds() -> float:
    own = os.times()
    return own.user + own.system


class ContentionWindow:
    """Opened with ``start()``; ``stop()`` gives the other processes' share over the window.
    ``own`` counts what is "ours": this process by default; the interleaved rounds, whose timed
    work runs in a worker, pass the runner's and the active worker's CPU together."""

    def __init__(self, own: Callable[[], float] = _own_seconds) -> None:
        self.cores = psutil.cpu_count(logical=True) or 1
        self._own_seconds = own
        self._wall = self._busy = self._own = 0.0

    def start(self) -> None:
        self._own = self._own_seconds()
        self._busy = _busy_seconds()
        self._wall = time.perf_counter()

    def stop(self) -> Contention:
        wall = time.perf_counter() - self._wall
        own = self._own_seconds() - self._own
        busy = _busy_seconds() - self._busy
        capacity = max(wall * self.cores, 1e-9)
        return Contention(
            window_s=wall,
            others_cpu_percent=max(0.0, (busy - own) / capacity * 100.0),
            own_cpu_percent=own / capacity * 100.0,
        )
