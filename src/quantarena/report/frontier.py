"""The Pareto frontier: the variants no other variant beats on both cost and accuracy. These are
the only choices worth considering; the rest are dominated."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[str, float, float]  # (name, cost, score)


def pareto_frontier(points: Sequence[Point]) -> list[str]:
    """Names of the non-dominated ``(name, cost, score)`` points, by increasing cost.

    Lower cost (latency, size) and higher score (accuracy) are better. A point is dominated when
    another is no worse in both and strictly better in one; exact ties both stay on the frontier.
    Points with a non-finite value are ignored.
    """
    valid = [p for p in points if math.isfinite(p[1]) and math.isfinite(p[2])]

    def dominates(a: Point, b: Point) -> bool:
        return a[1] <= b[1] and a[2] >= b[2] and (a[1] < b[1] or a[2] > b[2])

    frontier = [p for p in valid if not any(dominates(q, p) for q in valid)]
    return [p[0] for p in sorted(frontier, key=lambda p: (p[1], -p[2], p[0]))]
