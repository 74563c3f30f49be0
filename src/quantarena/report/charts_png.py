"""Draws the chart specs of ``charts`` as static PNG files for ``report.md`` (matplotlib, Agg; no
display needed), under ``RUN_DIR/charts/``. Only drawing lives here; what to show was decided in
``charts``. matplotlib is imported when drawing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantarena.report.axes import Axis, tick_label
from quantarena.report.chart_specs import (
    BarChart,
    Chart,
    LatencyChart,
    MachineChart,
    SpeedupChart,
    TradeoffChart,
)
from quantarena.report.charts import report_charts
from quantarena.report.serving import ServingChart
from quantarena.report.serving import draw_png as draw_serving
from quantarena.results.schema import Results

CHARTS_DIR = "charts"
DPI = 110


def _figure(rows: int = 0) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # Figure without pyplot: Agg canvas, no global state

    height = max(2.6, 1.2 + 0.5 * rows) if rows else 4.2
    fig = Figure(figsize=(7.0, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _apply(ax: Any, axis: Axis, which: str) -> None:
    from matplotlib.ticker import NullFormatter, NullLocator

    target = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(axis.title)
    if axis.log:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        target.set_minor_locator(NullLocator())
        target.set_minor_formatter(NullFormatter())
    if axis.range is not None:
        (ax.set_xlim if which == "x" else ax.set_ylim)(*axis.range)
    if axis.ticks:
        (ax.set_xticks if which == "x" else ax.set_yticks)(
            list(axis.ticks), [tick_label(t) for t in axis.ticks])


def _categories(ax: Any, chart: Chart) -> None:
    ax.set_yticks(range(len(chart.categories)), chart.categories)
    ax.invert_yaxis()  # first row on top, as in the table


def _tradeoff(chart: TradeoffChart, ax: Any) -> None:
    for s in chart.series:
        pts = s.points
        if all(p.x_ci for p in pts):
            ax.errorbar([p.x for p in pts], [p.y for p in pts], fmt="none", ecolor=s.color,
                        elinewidth=1, capsize=2, zorder=2,
                        xerr=[[p.x - p.x_ci[0] for p in pts if p.x_ci],
                              [p.x_ci[1] - p.x for p in pts if p.x_ci]])
        ax.scatter([p.x for p in pts], [p.y for p in pts], s=46, color=s.color, label=s.name,
                   edgecolors=["#111" if p.on_frontier else "white" for p in pts],
                   linewidths=[1.8 if p.on_frontier else 0.8 for p in pts], zorder=3)
        for p in pts:
            ax.annotate(p.name, (p.x, p.y), textcoords="offset points", xytext=(5, 5),
                        fontsize=7.5, color="#333")
    if chart.frontier:
        ax.step([p.x for p in chart.frontier], [p.y for p in chart.frontier], where="post",
                color="#111", linestyle=":", linewidth=1.2, label="Pareto frontier", zorder=2)
    _apply(ax, chart.x, "x")
    _apply(ax, chart.y, "y")
    ax.legend(fontsize=8, frameon=False)


def _bars(chart: BarChart, ax: Any) -> None:
    ax.barh(range(len(chart.bars)), [b.value for b in chart.bars],
            color=[b.color for b in chart.bars])
    _categories(ax, chart)
    _apply(ax, chart.axis, "x")


def _latency(chart: LatencyChart, ax: Any) -> None:
    rows = chart.rows
    if chart.boxes:
        stats: list[dict[str, object]] = [
            {"label": r.name, "whislo": r.min, "q1": r.p25, "med": r.p50, "q3": r.p75,
             "whishi": r.max, "mean": r.mean, "fliers": []} for r in rows]
        boxes = ax.bxp(stats, positions=range(len(rows)), orientation="horizontal", showmeans=True,
                       meanline=True, patch_artist=True, widths=0.5,
                       meanprops={"color": "#111", "linestyle": "--"},
                       medianprops={"color": "#111", "linewidth": 2})
        for patch, r in zip(boxes["boxes"], rows, strict=True):
            patch.set(facecolor=r.color, alpha=0.8)
    else:
        for i, r in enumerate(rows):
            ax.plot([r.min, r.max], [i, i], color="#999", linewidth=1.2, zorder=1)
            ax.barh(i, r.p99 - r.p50, left=r.p50, height=0.5, color=r.color, alpha=0.75, zorder=2)
            ax.plot([r.p50, r.p50], [i - 0.3, i + 0.3], color="#111", linewidth=2.2, zorder=3)
            ax.plot([r.p90, r.p90], [i - 0.25, i + 0.25], color="#111", linewidth=1.0, zorder=3)
            ax.plot(r.mean, i, marker="D", markersize=4, color="#111", zorder=3)
    _categories(ax, chart)
    _apply(ax, chart.axis, "x")


def _speedups(chart: SpeedupChart, ax: Any) -> None:
    height = 0.8 / len(chart.series)
    for k, s in enumerate(chart.series):
        offset = (k - (len(chart.series) - 1) / 2) * height
        xerr = None
        if s.ci is not None:
            xerr = [[v - c[0] if c and v else 0.0 for v, c in zip(s.values, s.ci, strict=True)],
                    [c[1] - v if c and v else 0.0 for v, c in zip(s.values, s.ci, strict=True)]]
        bars = ax.barh([i + offset for i in range(len(chart.names))], [v or 0.0 for v in s.values],
                       height, color=s.color, label=s.label, xerr=xerr,
                       error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "#333"})
        ax.bar_label(bars, labels=[f"{v:.2f}×" if v else "" for v in s.values], padding=3,
                     fontsize=7.5)
    ax.axvline(1.0, color="#555", linestyle="--", linewidth=1)
    _categories(ax, chart)
    _apply(ax, chart.axis, "x")
    ax.figure.legend(fontsize=8, frameon=False, loc="outside lower center", ncols=2)


def _machine(chart: MachineChart, ax: Any) -> None:
    ax.plot(chart.offsets_s, chart.relative, marker="o", markersize=3, color="#4C78A8",
            label="reference workload (× fastest)")
    ax.set_xlabel("seconds into the rounds")
    ax.set_ylabel("reference workload (× fastest)")
    share = ax.twinx()
    share.set_ylim(0, 1)
    share.set_ylabel("share of CPU")
    for label, values, color in (("steal", chart.steal, "#E45756"),
                                 ("other processes", chart.others, "#F58518")):
        if any(v is not None for v in values):
            share.plot(chart.offsets_s, [v if v is not None else float("nan") for v in values],
                       linestyle=":", color=color, label=label)
    ax.figure.legend(fontsize=8, frameon=False, loc="outside lower center", ncols=3)


def render(chart: Chart) -> Any:
    """One chart spec as a matplotlib ``Figure``."""
    fig, ax = _figure(len(chart.categories))
    if isinstance(chart, TradeoffChart):
        _tradeoff(chart, ax)
    elif isinstance(chart, BarChart):
        _bars(chart, ax)
    elif isinstance(chart, LatencyChart):
        _latency(chart, ax)
    elif isinstance(chart, SpeedupChart):
        _speedups(chart, ax)
    elif isinstance(chart, MachineChart):
        _machine(chart, ax)
    elif isinstance(chart, ServingChart):
        draw_serving(chart, ax)
    else:
        raise TypeError(f"no matplotlib drawing for {type(chart).__name__}")
    ax.set_title(chart.title, fontsize=10)
    return fig


def write_charts(results: Results, run_dir: Path) -> list[tuple[str, Path]]:
    """Write the PNG charts; returns ``(label, path)`` pairs for the ones that had data."""
    charts = report_charts(results)
    if not charts:
        return []
    out = run_dir / CHARTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in charts:
        path = out / f"{chart.file}.png"
        render(chart).savefig(path)
        written.append((chart.label, path))
    return written
