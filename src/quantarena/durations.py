"""Durations as a reader says them, shared by every message that names one (the machine trace's
slowdown note, the end-of-run "where the time went" block)."""

from __future__ import annotations


def spoken(seconds: float) -> str:
    """``0.4 s``, ``45 s``, ``2 min``, ``4 min 38 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min" if rest == 0 else f"{minutes} min {rest} s"
