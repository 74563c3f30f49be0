"""Resident memory of the worker process: now, and its own high-water mark.

The high-water mark is the kernel's ``VmHWM`` of this process (``/proc/self/status``), not
``getrusage``'s ``ru_maxrss``: Linux carries ``ru_maxrss`` across fork + exec, so a worker started
by a parent holding 600 MB would report at least the parent's peak (several rows of one run then
showed the identical number). ``ru_maxrss`` is the fallback where ``/proc`` does not exist.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import psutil

STATUS = Path("/proc/self/status")


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def _vm_hwm_kib(status: Path = STATUS) -> int | None:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])  # "VmHWM:   123456 kB"
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_mb() -> float:
    """Peak RSS of this process since it started (its own, not inherited from its parent)."""
    own = _vm_hwm_kib()
    if own is not None:
        return own / 2**10
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return float(peak) / (2**20 if sys.platform == "darwin" else 2**10)
