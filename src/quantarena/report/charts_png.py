"""Static PNG versions of the main charts for ``report.md`` (matplotlib, Agg; no display needed).

Written under ``RUN_DIR/charts/``; the data come from the same helpers as the HTML charts.
matplotlib is imported only when writing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantarena.report.chart_data import (
    accuracy_missing_reason,
    chart_points,
    pareto_frontier,
    speedups,
    toolchain_colors,
)
from quantarena.results.schema import Results

CHARTS_DIR = "charts"
DPI = 110


def _figure(width: float = 7.0, height: float = 4.2) -> Any:
    from matplotlib.figure import Figure  # Figure without pyplot: Agg canvas, no global state

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _log_if_wide(ax: Any, values: list[float], axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    positive = [v for v in values if v > 0]
    if len(positive) > 1 and max(positive) / min(positive) > 20:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        target = ax.xaxis if axis == "x" else ax.yaxis
        target.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        target.set_minor_formatter(NullFormatter())


def _tradeoff(results: Results, cost: str, path: Path) -> None:
    colors = toolchain_colors(results)
    points = [p for p in chart_points(results) if p.top1_pct is not None and getattr(p, cost) is not None]
    frontier = pareto_frontier([(p.name, getattr(p, cost), p.top1_pct) for p in points])  # type: ignore[misc]
    fig, ax = _figure()
    for toolchain in dict.fromkeys(p.toolchain for p in points):
        group = [p for p in points if p.toolchain == toolchain]
        ax.scatter([getattr(p, cost) for p in group], [p.top1_pct for p in group], s=46, color=colors[toolchain],
                   edgecolors=["#111" if p.name in frontier else "white" for p in group],
                   linewidths=[1.8 if p.name in frontier else 0.8 for p in group], label=toolchain, zorder=3)
    by_name = {p.name: p for p in points}
    if frontier:
        ax.step([getattr(by_name[n], cost) for n in frontier], [by_name[n].top1_pct for n in frontier],
                where="post", color="#111", linestyle=":", linewidth=1.2, label="Pareto frontier", zorder=2)
    for p in points:
        ax.annotate(p.name, (getattr(p, cost), p.top1_pct), textcoords="offset points", xytext=(5, 5),
                    fontsize=7.5, color="#333")
    _log_if_wide(ax, [getattr(p, cost) for p in points])
    if cost == "p50_ms":
        ax.set(xlabel="p50 latency, batch 1 (ms)", ylabel="top-1 (%)", title="Accuracy vs latency (up-left is better)")
    else:
        ax.set(xlabel="artifact size (MB)", ylabel="top-1 (%)", title="Accuracy vs size (up-left is better)")
    ax.legend(fontsize=8, frameon=False)
    fig.savefig(path)


def _bars(results: Results, cost: str, reason: str, path: Path) -> None:
    colors = toolchain_colors(results)
    points = sorted((p for p in chart_points(results) if getattr(p, cost) is not None), key=lambda p: getattr(p, cost))
    fig, ax = _figure()
    ax.barh([p.name for p in points], [getattr(p, cost) for p in points], color=[colors[p.toolchain] for p in points])
    ax.invert_yaxis()
    what = "p50 latency, batch 1 (ms)" if cost == "p50_ms" else "artifact size (MB)"
    ax.set(xlabel=what, title=f"{what.split(' (')[0].capitalize()} (accuracy unavailable: {reason})"[:90])
    fig.savefig(path)


def _latency(results: Results, path: Path) -> None:
    colors = toolchain_colors(results)
    rows = [v for v in results.variants if v.status == "ok" and v.latency_ms is not None]
    fig, ax = _figure(height=max(2.4, 0.9 + 0.45 * len(rows)))
    for i, v in enumerate(rows):
        lat = v.latency_ms
        assert lat is not None
        ax.plot([lat.min, lat.max], [i, i], color="#999", linewidth=1.2, zorder=1)
        ax.barh(i, lat.p99 - lat.p50, left=lat.p50, height=0.5, color=colors[v.toolchain], alpha=0.75, zorder=2)
        ax.plot([lat.p50, lat.p50], [i - 0.3, i + 0.3], color="#111", linewidth=2.2, zorder=3)
        ax.plot([lat.p90, lat.p90], [i - 0.25, i + 0.25], color="#111", linewidth=1.0, zorder=3)
        ax.plot(lat.mean, i, marker="D", markersize=4, color="#111", zorder=3)
    ax.set_yticks(range(len(rows)), [v.name for v in rows])
    ax.invert_yaxis()
    _log_if_wide(ax, [v.latency_ms.min for v in rows if v.latency_ms] + [v.latency_ms.max for v in rows if v.latency_ms])
    ax.set(xlabel="latency, batch 1 (ms)",
           title="Latency: bar p50–p99, thick tick p50, thin tick p90, ◆ mean, line min–max")
    ax.title.set_fontsize(9.5)
    fig.savefig(path)


def _speedup(results: Results, path: Path) -> None:
    rows = speedups(results)
    fig, ax = _figure(height=max(2.6, 1.2 + 0.55 * len(rows)))
    ys = list(range(len(rows)))
    height = 0.38
    series = [("vs its toolchain's FP32", "#4C78A8", [r.vs_toolchain_fp32 for r in rows], -height / 2)]
    if results.reference:
        series.append((f"vs reference ({results.reference})", "#F58518", [r.vs_reference for r in rows], height / 2))
    for label, color, values, offset in series:
        bars = ax.barh([y + offset for y in ys], [v or 0.0 for v in values], height, color=color, label=label)
        ax.bar_label(bars, labels=[f"{v:.2f}×" if v else "" for v in values], padding=3, fontsize=7.5)
    ax.axvline(1.0, color="#555", linestyle="--", linewidth=1)
    ax.set_yticks(ys, [r.name for r in rows])
    ax.invert_yaxis()
    ax.margins(x=0.12)
    ax.set(xlabel="speedup (×)", title="Speedup of batch-1 p50 latency (higher is faster)")
    fig.legend(fontsize=8, frameon=False, loc="outside lower center", ncols=2)
    fig.savefig(path)


def write_charts(results: Results, run_dir: Path) -> list[tuple[str, Path]]:
    """Write the PNG charts; returns ``(title, path)`` pairs for the ones that had data."""
    out = run_dir / CHARTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    points = chart_points(results)
    written: list[tuple[str, Path]] = []
    if not any(p.p50_ms is not None or p.size_mb is not None for p in points):
        return written
    reason = accuracy_missing_reason(results)
    if reason is None:
        _tradeoff(results, "p50_ms", out / "accuracy_vs_latency.png")
        _tradeoff(results, "size_mb", out / "accuracy_vs_size.png")
        written += [("Accuracy vs latency", out / "accuracy_vs_latency.png"),
                    ("Accuracy vs size", out / "accuracy_vs_size.png")]
    else:
        _bars(results, "p50_ms", reason, out / "latency_p50.png")
        _bars(results, "size_mb", reason, out / "size.png")
        written += [("Latency (accuracy unavailable)", out / "latency_p50.png"),
                    ("Size (accuracy unavailable)", out / "size.png")]
    if any(p.p50_ms is not None for p in points):
        _latency(results, out / "latency_distribution.png")
        written.append(("Latency distribution", out / "latency_distribution.png"))
        if any(r.vs_toolchain_fp32 or r.vs_reference for r in speedups(results)):
            _speedup(results, out / "speedup.png")
            written.append(("Speedup", out / "speedup.png"))
    return written
