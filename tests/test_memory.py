"""A worker's peak memory is its own: a parent holding hundreds of MB does not leak its high-water
mark into the child's (Linux carries ``ru_maxrss`` across fork + exec)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from quantarena.measure.memory import _vm_hwm_kib, peak_rss_mb, rss_mb

CHILD = (
    "import json, resource; from quantarena.measure.memory import peak_rss_mb; "
    "print(json.dumps({'peak': peak_rss_mb(), "
    "'ru_maxrss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
)


def test_a_child_does_not_inherit_the_parents_peak() -> None:
    ballast = np.ones(600 * 2**20 // 8)  # 600 MB resident in this (parent) process
    assert rss_mb() > 550
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    child = json.loads(out.stdout)
    assert child["peak"] < 200, child  # a Python interpreter with quantarena imported
    # The inherited counter really is what it would have read (the reason VmHWM is used):
    assert child["ru_maxrss"] > 500, child
    del ballast


def test_peak_reads_this_process_high_water_mark() -> None:
    assert _vm_hwm_kib() is not None
    assert peak_rss_mb() >= rss_mb() * 0.99
