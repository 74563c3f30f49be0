"""Was anything else using the CPU while a variant was measured? System-wide busy time minus this
process's own CPU time, over the measurement window. A shared machine is the commonest reason two
runs disagree; this puts the evidence on the row instead of leaving it to guesswork."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psutil

#: Other processes above this share of the machine's CPU earn a note on the variant's row.
CONTENTION_PERCENT = 10.0


def _busy_seconds(times: psutil._common.scputimes) -> float:  # type: ignore[name-defined]
    idle = times.idle + getattr(times, "iowait", 0.0)
    return float(sum(times) - idle)


@dataclass
class ContentionMeter:
    _wall: float = 0.0
    _busy: float = 0.0
    _own: float = 0.0
    cores: int = field(default_factory=lambda: psutil.cpu_count(logical=True) or 1)

    def start(self) -> None:
        own = os.times()
        self._own = own.user + own.system
        self._busy = _busy_seconds(psutil.cpu_times())
        self._wall = time.perf_counter()

    def stop(self) -> dict[str, float | str | None]:
        wall = time.perf_counter() - self._wall
        own = os.times()
        own_seconds = own.user + own.system - self._own
        busy = _busy_seconds(psutil.cpu_times()) - self._busy
        capacity = max(wall * self.cores, 1e-9)
        others = max(0.0, (busy - own_seconds) / capacity * 100.0)
        note = None
        if others > CONTENTION_PERCENT:
            note = (f"other processes used {others:.0f}% of the CPU while this variant was timed: "
                    "its latency and throughput may be inflated")
        return {"window_s": wall, "others_cpu_percent": others,
                "own_cpu_percent": own_seconds / capacity * 100.0, "warning": note}
