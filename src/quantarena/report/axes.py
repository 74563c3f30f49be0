"""Axis decisions shared by every chart renderer: the title, whether the scale is logarithmic
(values spanning more than ``LOG_SPAN``×, where a linear axis would crush the small ones), the
padded range, and readable 1-2-5 ticks on log axes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LOG_SPAN = 20.0
PAD = 0.08  # of the data span, each side


@dataclass(frozen=True)
class Axis:
    title: str
    log: bool = False
    range: tuple[float, float] | None = None  # in data units, padding included
    ticks: tuple[float, ...] = ()  # set on log axes; labelled with ``tick_label``


def tick_label(value: float) -> str:
    return format(value, "g")


def wants_log(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    return len(positive) > 1 and max(positive) / min(positive) > LOG_SPAN


def log_ticks(lo: float, hi: float) -> tuple[float, ...]:
    """1-2-5 ticks within ``[lo, hi]`` (plotting libraries label only some minor digits)."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    return tuple(m * 10.0**e for e in decades for m in (1, 2, 5) if lo <= m * 10.0**e <= hi)


def value_axis(title: str, values: Sequence[float]) -> Axis:
    """An axis fitted to ``values`` with ``PAD`` each side, logarithmic when they span widely."""
    finite = [v for v in values if math.isfinite(v)]
    log = wants_log(finite)
    if log:
        finite = [v for v in finite if v > 0]
    if not finite:
        return Axis(title)
    lo, hi = min(finite), max(finite)
    if log:
        a, b = math.log10(lo), math.log10(hi)
        pad = (b - a) * PAD
        lo, hi = 10 ** (a - pad), 10 ** (b + pad)
        return Axis(title, log=True, range=(lo, hi), ticks=log_ticks(lo, hi))
    pad = (hi - lo) * PAD or abs(hi) * 0.1 or 1.0
    return Axis(title, range=(lo - pad, hi + pad))


def linear_from_zero(title: str, values: Sequence[float]) -> Axis:
    """A bar axis: bars start at zero, so it is linear from 0 to the largest value plus padding."""
    top = max([v for v in values if math.isfinite(v)] + [0.0])
    return Axis(title, range=(0.0, top * (1 + PAD) or 1.0))
