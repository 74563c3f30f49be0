"""Where a run's time went: preparing, each variant's build and measurement, the interleaved
rounds. Printed at the end of a run, so a user who finds a run slow sees which part to shorten
(a knob of ``measure``, fewer variants) instead of guessing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from quantarena.durations import spoken


@dataclass
class Timeline:
    """Seconds per (step, part), in the order steps first appear."""

    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def add(self, step: str, part: str, seconds: float) -> None:
        parts = self.steps.setdefault(step, {})
        parts[part] = parts.get(part, 0.0) + seconds

    @contextmanager
    def part(self, step: str, part: str) -> Iterator[None]:
        """Time a block as ``part`` of ``step`` (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(step, part, time.perf_counter() - start)

    def lines(self) -> list[str]:
        """One line per step: its total, then its parts; the header gives the wall time."""
        total = time.perf_counter() - self.started
        width = max((len(step) for step in self.steps), default=0)
        out = [f"where the time went ({spoken(total)}):"]
        for step, parts in self.steps.items():
            detail = ", ".join(f"{name} {spoken(s)}" for name, s in parts.items())
            out.append(f"  {step:<{width}}  {spoken(sum(parts.values())):>9}  ({detail})")
        accounted = sum(s for parts in self.steps.values() for s in parts.values())
        if total - accounted >= 1.0:
            out.append(f"  {'other':<{width}}  {spoken(total - accounted):>9}  (saving, "
                       "reporting, starting)")
        return out
