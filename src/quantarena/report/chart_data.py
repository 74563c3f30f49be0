"""Chart data from results only: points, the Pareto frontier, speedups, colors. Pure and
shared by the HTML report's plotly figures and report.md's PNG charts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from quantarena.results.schema import Results, VariantResult

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#9D755D", "#FF9DA6", "#BAB0AC")

@dataclass(frozen=True)
class Point:
    """One ok variant as the charts see it."""

    name: str
    toolchain: str
    p50_ms: float | None
    p50_ci95: tuple[float, float] | None
    top1_pct: float | None
    size_mb: float | None


@dataclass(frozen=True)
class Speedup:
    """Batch-1 p50 speedup of a variant (x > 1 is faster) vs its toolchain's FP32 and vs the reference."""

    name: str
    toolchain: str
    vs_toolchain_fp32: float | None
    toolchain_fp32: str | None
    vs_reference: float | None


def pareto_frontier(points: Sequence[tuple[str, float, float]]) -> list[str]:
    """Names of the non-dominated ``(name, cost, score)`` points, by increasing cost.

    Lower cost (latency, size) and higher score (accuracy) are better. A point is dominated when
    another is no worse in both and strictly better in one; exact ties both stay on the frontier.
    Points with a non-finite value are ignored.
    """
    valid = [p for p in points if math.isfinite(p[1]) and math.isfinite(p[2])]

    def dominates(a: tuple[str, float, float], b: tuple[str, float, float]) -> bool:
        return a[1] <= b[1] and a[2] >= b[2] and (a[1] < b[1] or a[2] > b[2])

    frontier = [p for p in valid if not any(dominates(q, p) for q in valid)]
    return [p[0] for p in sorted(frontier, key=lambda p: (p[1], -p[2], p[0]))]


def chart_points(results: Results) -> list[Point]:
    points = []
    for v in results.variants:
        if v.status != "ok":
            continue
        lat = v.latency_ms
        points.append(Point(
            name=v.name, toolchain=v.toolchain,
            p50_ms=lat.p50 if lat else None,
            p50_ci95=(lat.p50_ci95[0], lat.p50_ci95[1]) if lat and len(lat.p50_ci95) == 2 else None,
            top1_pct=v.accuracy.top1 * 100.0 if v.accuracy else None,
            size_mb=v.artifact.size_mb if v.artifact else None,
        ))
    return points


def _fp32_of(results: Results, toolchain: str) -> VariantResult | None:
    candidates = [v for v in results.variants if v.toolchain == toolchain and v.precision == "fp32"
                  and v.status == "ok" and v.latency_ms is not None]
    candidates.sort(key=lambda v: (v.name != f"{toolchain}:fp32", v.name))
    return candidates[0] if candidates else None


def speedups(results: Results) -> list[Speedup]:
    reference = results.variant(results.reference) if results.reference else None
    ref_p50 = reference.latency_ms.p50 if reference and reference.status == "ok" and reference.latency_ms else None
    rows = []
    for v in results.variants:
        if v.status != "ok" or v.latency_ms is None or v.latency_ms.p50 <= 0:
            continue
        own = _fp32_of(results, v.toolchain)
        rows.append(Speedup(
            name=v.name, toolchain=v.toolchain,
            vs_toolchain_fp32=own.latency_ms.p50 / v.latency_ms.p50 if own and own.latency_ms else None,
            toolchain_fp32=own.name if own else None,
            vs_reference=ref_p50 / v.latency_ms.p50 if ref_p50 else None,
        ))
    return rows


def toolchain_colors(results: Results) -> dict[str, str]:
    order = list(dict.fromkeys(v.toolchain for v in results.variants))
    return {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(order)}


def accuracy_missing_reason(results: Results) -> str | None:
    """Why the accuracy charts fall back to latency/size only (None when some accuracy exists)."""
    points = chart_points(results)
    if any(p.top1_pct is not None for p in points):
        return None
    reasons = {v.unavailable.get("accuracy") for v in results.variants if v.unavailable.get("accuracy")}
    if reasons:
        return "; ".join(sorted(r for r in reasons if r))
    if not results.model.pretrained:
        return "random weights: accuracy would be meaningless"
    return "no variant has an accuracy measurement"
