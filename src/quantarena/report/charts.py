"""What the report's charts show, decided once: pure functions from ``Results`` to chart specs
(data, axis titles, log or linear axes, colors, captions). ``charts_plotly`` (report.html) and
``charts_png`` (report.md) only draw these specs, so the two formats cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from quantarena.report.axes import Axis, linear_from_zero, value_axis
from quantarena.report.chart_specs import (
    Bar,
    BarChart,
    Chart,
    LatencyChart,
    LatencyRow,
    MachineChart,
    Series,
    SpeedupChart,
    SpeedupSeries,
    TradeoffChart,
    TradeoffPoint,
)
from quantarena.report.frontier import pareto_frontier
from quantarena.report.serving import serving_charts
from quantarena.results.schema import Results, VariantResult
from quantarena.results.speedup import PairedSpeedup

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#9D755D",
           "#FF9DA6", "#BAB0AC")
BASELINE_COLOR, REFERENCE_COLOR = "#4C78A8", "#F58518"
#: What an accuracy trade-off is plotted against, and that axis's title.
Cost = Literal["latency", "size"]
COST_AXIS: dict[Cost, str] = {"latency": "p50 latency, batch 1 (ms)", "size": "artifact size (MB)"}


def toolchain_colors(results: Results) -> dict[str, str]:
    """One color per toolchain, in order of first appearance: a toolchain keeps its color in
    every chart of a report."""
    order = list(dict.fromkeys(v.toolchain for v in results.variants))
    return {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(order)}


def _timed(results: Results) -> list[VariantResult]:
    return [v for v in results.variants if v.status == "ok" and v.latency_ms is not None]


def _cost(v: VariantResult, cost: Cost) -> float | None:
    if cost == "latency":
        return v.latency_ms.p50 if v.latency_ms else None
    return v.artifact.size_mb if v.artifact else None


def _p50_ci(v: VariantResult) -> tuple[float, float] | None:
    """The p50's CI, widened to include the p50 itself (error bars must not be negative)."""
    lat = v.latency_ms
    if lat is None or len(lat.p50_ci95) != 2:
        return None
    return min(lat.p50_ci95[0], lat.p50), max(lat.p50_ci95[1], lat.p50)


def _tradeoff_points(results: Results, cost: Cost) -> list[tuple[VariantResult, float, float]]:
    ok = [v for v in results.variants if v.status == "ok" and v.accuracy is not None]
    points = [(v, _cost(v, cost), v.accuracy.top1 * 100.0) for v in ok if v.accuracy]
    return [(v, x, y) for v, x, y in points if x is not None and math.isfinite(x)]


def frontier_names(results: Results, cost: Cost = "latency") -> list[str]:
    """Variants on the accuracy/cost Pareto frontier, cheapest first."""
    return pareto_frontier([(v.name, x, y) for v, x, y in _tradeoff_points(results, cost)])


def tradeoff_chart(results: Results, cost: Cost) -> TradeoffChart:
    """Top-1 against latency or size, one series per toolchain; the frontier is what a reader
    should choose from (error bars on latency: the p50's 95% CI)."""
    colors, points = toolchain_colors(results), _tradeoff_points(results, cost)
    front = frontier_names(results, cost)
    made = {v.name: TradeoffPoint(v.name, x, y, _p50_ci(v) if cost == "latency" else None,
                                  v.name in front) for v, x, y in points}
    frontier = [made[n] for n in front]
    series = [Series(t, colors[t], [made[v.name] for v, _, _ in points if v.toolchain == t])
              for t in dict.fromkeys(v.toolchain for v, _, _ in points)]
    latency = cost == "latency"
    names = [p.name for p in frontier]
    caption = ("Outlined points and the dotted line form the Pareto frontier (no other variant is "
               f"both faster and more accurate): {', '.join(names) or 'none'}. "
               "Error bars: 95% CI of the p50." if latency else "Artifact size on disk vs top-1.")
    return TradeoffChart(
        key="frontier" if latency else "size",
        file="accuracy_vs_latency" if latency else "accuracy_vs_size",
        label="Accuracy vs latency" if latency else "Accuracy vs size",
        title=f"Accuracy vs {'latency (batch 1)' if latency else 'size'}: up and left is better",
        caption=caption, x=value_axis(COST_AXIS[cost], [x for _, x, _ in points]),
        y=value_axis("top-1 (%)", [y for _, _, y in points]), series=series,
        frontier=frontier,
    )


def bar_chart(results: Results, cost: Cost, missing: str) -> BarChart:
    """Without accuracy there is no trade-off to show, but the costs still compare."""
    colors = toolchain_colors(results)
    values = [(v, _cost(v, cost)) for v in results.variants if v.status == "ok"]
    bars = sorted((Bar(v.name, x, colors[v.toolchain]) for v, x in values if x is not None),
                  key=lambda b: b.value)
    latency = cost == "latency"
    return BarChart(
        key="frontier" if latency else "size", file="latency_p50" if latency else "size",
        label=f"{'Latency' if latency else 'Size'} (accuracy unavailable)",
        title=f"{'Latency (p50, batch 1)' if latency else 'Artifact size'} per variant "
              "(accuracy unavailable)",
        caption=f"Accuracy is unavailable ({missing}), so latency and size are shown alone.",
        axis=linear_from_zero(COST_AXIS[cost], [b.value for b in bars]), bars=bars,
    )


def latency_chart(results: Results) -> LatencyChart:
    """The spread, not only the median: a variant with a long tail is slower than its p50 says."""
    colors = toolchain_colors(results)
    rows = [LatencyRow(v.name, colors[v.toolchain], lat.min, lat.p25, lat.p50, lat.p75, lat.p90,
                       lat.p99, lat.max, lat.mean, lat.iterations)
            for v in _timed(results) if (lat := v.latency_ms) is not None]
    boxes = all(r.p25 is not None and r.p75 is not None for r in rows)
    how = ("box p25–p75, line p50, dashed line mean, whiskers min–max" if boxes
           else "bar p50–p99, thick tick p50, thin tick p90, ◆ mean, line min–max")
    return LatencyChart(
        key="latency", file="latency_distribution", label="Latency distribution",
        title="Latency distribution, batch 1",
        caption=f"Every timed batch-1 call after warm-up: {how}.",
        axis=value_axis("latency, batch 1 (ms)", [x for r in rows for x in (r.min, r.max)]),
        rows=rows, boxes=boxes,
    )


def _speedup(v: VariantResult, against: VariantResult | None) -> float | None:
    base = against.latency_ms if against and against.status == "ok" else None
    own = v.latency_ms
    return base.p50 / own.p50 if base and own and own.p50 > 0 else None


def _paired(s: PairedSpeedup | None) -> tuple[float | None, tuple[float, float] | None]:
    if s is None or s.speedup is None:
        return None, None
    return s.speedup, (s.ci95[0], s.ci95[1]) if len(s.ci95) == 2 else None


def _rounds_series(results: Results, label: str, color: str, names: list[str],
                   against: list[str | None]) -> SpeedupSeries:
    """Paired speed-ups from the interleaved rounds; a variant against itself is 1.0."""
    rounds = results.interleaved
    assert rounds is not None
    pairs = [(1.0, None) if a == n else _paired(rounds.pair(a, n)) if a else (None, None)
             for n, a in zip(names, against, strict=True)]
    return SpeedupSeries(label, color, [v for v, _ in pairs], against, [c for _, c in pairs])


def rounds_speedup_chart(results: Results) -> SpeedupChart:
    """The paired speed-ups of the interleaved rounds with their 95% CIs."""
    rounds = results.interleaved
    assert rounds is not None
    names = list(rounds.variants)
    baselines = [b if (v := results.variant(n)) and (b := v.baseline) in rounds.medians_ms
                 else None for n in names]
    series = [_rounds_series(results, "vs its FP32 baseline", BASELINE_COLOR, names, baselines)]
    if rounds.reference:
        series.append(_rounds_series(results, f"vs reference ({rounds.reference})",
                                     REFERENCE_COLOR, names, [rounds.reference] * len(names)))
    tops = [c[1] if c else x for s in series for x, c in zip(s.values, s.ci or [], strict=True)
            if x is not None]
    return SpeedupChart(
        key="speedup", file="speedup", label="Speedup",
        title="Speedup at batch 1 from interleaved rounds (higher is faster)",
        caption=f"Geometric mean of the per-round time ratios over {rounds.rounds} interleaved "
                "rounds (same round, same machine state); error bars: 95% CI. A CI that spans "
                "1.0 is no significant difference.",
        axis=Axis("speedup (×)", range=(0.0, max(tops + [1.0]) * 1.15)), names=names,
        series=series,
    )


def machine_chart(results: Results) -> MachineChart:
    """How the machine's speed moved during the rounds (the reference workload of each)."""
    samples = results.interleaved.machine.samples if results.interleaved else []
    relative = (results.interleaved.machine.summary().relative
                if results.interleaved and samples else [])
    return MachineChart(
        key="machine", file="machine", label="Machine during the rounds",
        title="Machine during the interleaved rounds (1.0 = its fastest round)",
        caption="Each round's fixed reference workload time relative to the fastest round, and "
                "the share of the CPU taken by the hypervisor (steal) and other processes.",
        offsets_s=[s.offset_s for s in samples], relative=relative,
        steal=[s.steal_fraction() for s in samples],
        others=[s.others_fraction() for s in samples],
    )


def speedup_chart(results: Results) -> SpeedupChart:
    """Each variant vs its declared baseline (``v.baseline``) and vs the run's reference: from
    the interleaved rounds when the run has them, else from each variant's own p50."""
    if results.interleaved is not None and results.interleaved.rounds:
        return rounds_speedup_chart(results)
    rows = [v for v in _timed(results) if v.latency_ms and v.latency_ms.p50 > 0]
    base = [results.variant(v.baseline) if v.baseline else None for v in rows]
    series = [SpeedupSeries("vs its FP32 baseline", BASELINE_COLOR,
                            [_speedup(v, b) for v, b in zip(rows, base, strict=True)],
                            [b.name if b else None for b in base])]
    if results.reference:
        ref = results.variant(results.reference)
        series.append(SpeedupSeries(f"vs reference ({results.reference})", REFERENCE_COLOR,
                                    [_speedup(v, ref) for v in rows],
                                    [results.reference] * len(rows)))
    top = max([x for s in series for x in s.values if x is not None] + [1.0])
    return SpeedupChart(
        key="speedup", file="speedup", label="Speedup",
        title="Speedup of batch-1 p50 latency (higher is faster)",
        caption="Each variant vs its FP32 baseline (the FP32 variant of its toolchain) and vs the "
                "run's reference.",
        axis=Axis("speedup (×)", range=(0.0, top * 1.15)), names=[v.name for v in rows],
        series=series,
    )


def accuracy_missing_reason(results: Results) -> str | None:
    """Why the accuracy charts fall back to latency/size only (None when some accuracy exists)."""
    if any(v.status == "ok" and v.accuracy is not None for v in results.variants):
        return None
    reasons = sorted({why for v in results.variants if (why := v.unavailable.get("accuracy"))})
    if reasons:
        return "; ".join(reasons)
    if not results.model.pretrained:
        return "random weights: accuracy would be meaningless"
    return "no variant has an accuracy measurement"


def report_charts(results: Results) -> Sequence[Chart]:
    """Every chart the reports show, in page order, skipping those without data."""
    missing = accuracy_missing_reason(results)
    charts: list[Chart] = (
        [tradeoff_chart(results, "latency"), tradeoff_chart(results, "size")] if missing is None
        else [bar_chart(results, "latency", missing), bar_chart(results, "size", missing)]
    )
    charts += [latency_chart(results), speedup_chart(results), machine_chart(results)]
    charts += serving_charts(results)
    return [c for c in charts if c.has_data]
