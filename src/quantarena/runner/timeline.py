"""Where a run's time went: preparing, each variant's build and measurement, the interleaved
rounds. Printed at the end of a run, so a user who finds a run slow sees which part to shorten
(a knob of ``measure``, fewer variants) instead of guessing."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from quantarena.config import MeasureConfig
from quantarena.durations import spoken
from quantarena.results.schema import VariantResult


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


def capped_passes(
    rows: Iterable[VariantResult], rounds_stop: str | None, measure: MeasureConfig
) -> list[str]:
    """One line naming the timing passes that ran to their time caps, with the option that sets
    each cap: on a slow or noisy CPU they are most of a run's time, and the knob to turn (at the
    cost of wider CIs, which the results show). Empty when every pass met its CI target.
    Batch 1's throughput is the latency pass's, so it is counted there only."""
    timed = [(r.latency_ms, r.throughput) for r in rows if r.latency_ms is not None]
    latency = sum(calls.stop_reason == "time_cap" for calls, _ in timed)
    parts = []
    if latency:
        parts.append(f"batch-1 latency pass of {latency} of {len(timed)} variants "
                     f"(--latency-max-seconds {measure.latency_max_seconds:g})")
    for batch in sorted({t.batch for _, ts in timed for t in ts} - {1}):
        passes = [t for _, ts in timed for t in ts if t.batch == batch]
        capped = sum(t.stop_reason == "time_cap" for t in passes)
        if capped:
            parts.append(f"batch-{batch} pass of {capped} of {len(passes)} "
                         f"(--throughput-max-seconds {measure.throughput_max_seconds:g})")
    if rounds_stop == "time_cap":
        parts.append(f"the interleaved rounds (--rounds-max-seconds "
                     f"{measure.rounds_max_seconds:g})")
    return [f"  at their time caps: {'; '.join(parts)}"] if parts else []
