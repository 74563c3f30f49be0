"""The interactive plotly figures of ``report.html`` (plotly is imported inside each function)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from quantarena.report.chart_data import (
    chart_points,
    pareto_frontier,
    speedups,
    toolchain_colors,
)
from quantarena.results.schema import Results


def _log_axis(values: Sequence[float]) -> bool:
    values = [v for v in values if v and v > 0]
    return len(values) > 1 and max(values) / min(values) > 20


def _axis(values: Sequence[float], title: str) -> dict[str, Any]:
    """Axis with 8% padding each side, log when the values span more than 20x."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    log = _log_axis(values)
    axis: dict[str, Any] = {"title": {"text": title}, "type": "log" if log else "linear"}
    if values:
        lo, hi = (math.log10(min(values)), math.log10(max(values))) if log else (min(values), max(values))
        pad = (hi - lo) * 0.08 or (abs(hi) * 0.1 if not log else 0.1) or 1.0
        axis["range"] = [lo - pad, hi + pad]
        if log:
            axis.update(_log_ticks(10 ** (lo - pad), 10 ** (hi + pad)))
    return axis


def _log_ticks(lo: float, hi: float) -> dict[str, Any]:
    """1-2-5 ticks with plain labels (plotly's own log ticks label minor digits only)."""
    ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    return {"tickvals": ticks, "ticktext": [format(t, "g") for t in ticks]}


def _base_layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        "template": "plotly_white",
        "margin": {"l": 60, "r": 24, "t": 48, "b": 40},
        "height": 400,
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif", "size": 12},
        "legend": {"orientation": "h", "y": -0.2, "x": 0, "yanchor": "top"},
        "hoverlabel": {"font": {"size": 12}},
    }
    layout.update(extra)
    return layout


def tradeoff_figure(results: Results, cost: str) -> Any:
    """Top-1 vs p50 latency (``cost='p50_ms'``) or vs size (``cost='size_mb'``), frontier highlighted."""
    import plotly.graph_objects as go

    colors = toolchain_colors(results)
    points = [p for p in chart_points(results) if p.top1_pct is not None and getattr(p, cost) is not None]
    frontier = pareto_frontier([(p.name, getattr(p, cost), p.top1_pct) for p in points])  # type: ignore[misc]
    on_frontier = set(frontier)
    unit = "ms" if cost == "p50_ms" else "MB"
    label = "p50 latency, batch 1" if cost == "p50_ms" else "artifact size"
    fig = go.Figure()
    for toolchain in dict.fromkeys(p.toolchain for p in points):
        group = [p for p in points if p.toolchain == toolchain]
        error_x = None
        if cost == "p50_ms" and all(p.p50_ci95 for p in group):
            error_x = {
                "type": "data", "symmetric": False, "thickness": 1, "width": 3, "color": colors[toolchain],
                "array": [p.p50_ci95[1] - p.p50_ms for p in group],  # type: ignore[index,operator]
                "arrayminus": [p.p50_ms - p.p50_ci95[0] for p in group],  # type: ignore[index,operator]
            }
        fig.add_trace(go.Scatter(
            x=[getattr(p, cost) for p in group], y=[p.top1_pct for p in group],
            mode="markers+text", name=toolchain, error_x=error_x, cliponaxis=False,
            text=[p.name if p.name in on_frontier else "" for p in group], textposition="top center",
            textfont={"size": 10, "color": "#333"},
            customdata=[[p.name, "on the Pareto frontier" if p.name in on_frontier else "dominated"] for p in group],
            hovertemplate=f"<b>%{{customdata[0]}}</b><br>{label}: %{{x:.3g}} {unit}<br>"
                          "top-1: %{y:.2f}%<br>%{customdata[1]}<extra></extra>",
            marker={
                "color": colors[toolchain], "size": [14 if p.name in on_frontier else 10 for p in group],
                "line": {"color": ["#111" if p.name in on_frontier else "#fff" for p in group],
                         "width": [2 if p.name in on_frontier else 1 for p in group]},
            },
        ))
    by_name = {p.name: p for p in points}
    fig.add_trace(go.Scatter(
        x=[getattr(by_name[n], cost) for n in frontier], y=[by_name[n].top1_pct for n in frontier],
        mode="lines", line={"shape": "hv", "dash": "dot", "color": "#111", "width": 1.5},
        name="Pareto frontier", hoverinfo="skip",
    ))
    xs = [getattr(p, cost) for p in points]
    title = ("Accuracy vs latency (batch 1): up and left is better" if cost == "p50_ms"
             else "Accuracy vs size: up and left is better")
    fig.update_layout(**_base_layout(
        title,
        xaxis=_axis(xs, f"{label} ({unit})"),
        yaxis=_axis([p.top1_pct for p in points], "top-1 (%)"),  # type: ignore[misc]
    ))
    return fig


def bar_fallback_figure(results: Results, cost: str) -> Any:
    """Latency or size per variant when there is no accuracy to plot against."""
    import plotly.graph_objects as go

    colors = toolchain_colors(results)
    points = sorted((p for p in chart_points(results) if getattr(p, cost) is not None), key=lambda p: getattr(p, cost))
    unit = "ms" if cost == "p50_ms" else "MB"
    what = "p50 latency, batch 1" if cost == "p50_ms" else "artifact size"
    title = "Latency (p50, batch 1)" if cost == "p50_ms" else "Artifact size"
    fig = go.Figure(go.Bar(
        x=[p.name for p in points], y=[getattr(p, cost) for p in points],
        marker={"color": [colors[p.toolchain] for p in points]}, customdata=[p.name for p in points],
        hovertemplate=f"<b>%{{customdata}}</b><br>{what}: %{{y:.3g}} {unit}<extra></extra>",
    ))
    fig.update_layout(**_base_layout(
        f"{title} per variant (accuracy unavailable)",
        yaxis={"title": {"text": f"{what} ({unit})"}}, showlegend=False,
    ))
    return fig


def latency_figure(results: Results) -> Any:
    """Batch-1 latency distribution per variant as true box plots (quartiles from the stored
    percentiles, whiskers min..max, mean marked); results without quartiles get the summary view."""
    rows = [v for v in results.variants if v.status == "ok" and v.latency_ms is not None]
    if not rows or any(v.latency_ms.p25 is None or v.latency_ms.p75 is None for v in rows):  # type: ignore[union-attr]
        return latency_summary_figure(results)
    import plotly.graph_objects as go

    colors = toolchain_colors(results)
    fig = go.Figure()
    for v in rows:
        lat = v.latency_ms
        assert lat is not None
        fig.add_trace(go.Box(
            name=v.name, y=[v.name], orientation="h", q1=[lat.p25], median=[lat.p50], q3=[lat.p75],
            lowerfence=[lat.min], upperfence=[lat.max], mean=[lat.mean],
            marker={"color": colors[v.toolchain]}, line={"color": colors[v.toolchain]},
            fillcolor=colors[v.toolchain], opacity=0.8, showlegend=False,
            hoverinfo="name+x",
        ))
    xs = [v.latency_ms.min for v in rows] + [v.latency_ms.max for v in rows]  # type: ignore[union-attr]
    fig.update_layout(**_base_layout(
        "Latency distribution, batch 1",
        xaxis=_axis(xs, "latency (ms)"),
        yaxis={"autorange": "reversed", "automargin": True},
        height=max(320, 90 + 42 * len(rows)),
    ))
    return fig


def latency_summary_figure(results: Results) -> Any:
    """Batch-1 latency spread per variant: whisker min..max, bar p50..p99, ticks p50/p90, mean."""
    import plotly.graph_objects as go

    colors = toolchain_colors(results)
    rows = [v for v in results.variants if v.status == "ok" and v.latency_ms is not None]
    names = [v.name for v in rows]
    lats = [v.latency_ms for v in rows]
    fig = go.Figure()
    whisker_x: list[float | None] = []
    whisker_y: list[str | None] = []
    for name, lat in zip(names, lats):
        whisker_x += [lat.min, lat.max, None]  # type: ignore[union-attr]
        whisker_y += [name, name, None]
    fig.add_trace(go.Scatter(x=whisker_x, y=whisker_y, mode="lines", name="min – max",
                             line={"color": "#999", "width": 1.5}, hoverinfo="skip"))
    fig.add_trace(go.Bar(
        y=names, x=[lat.p99 - lat.p50 for lat in lats], base=[lat.p50 for lat in lats],  # type: ignore[union-attr]
        orientation="h", name="p50 – p99", width=0.5,
        marker={"color": [colors[v.toolchain] for v in rows], "opacity": 0.75},
        customdata=[[n, lat.min, lat.p50, lat.p90, lat.p99, lat.max, lat.mean, lat.iterations]  # type: ignore[union-attr]
                    for n, lat in zip(names, lats)],
        hovertemplate="<b>%{customdata[0]}</b><br>min %{customdata[1]:.3g} ms<br>p50 %{customdata[2]:.3g} ms"
                      "<br>p90 %{customdata[3]:.3g} ms<br>p99 %{customdata[4]:.3g} ms<br>max %{customdata[5]:.3g} ms"
                      "<br>mean %{customdata[6]:.3g} ms<br>%{customdata[7]} iterations<extra></extra>",
    ))
    for label, attr, symbol in (("p50", "p50", "line-ns"), ("p90", "p90", "line-ns"), ("mean", "mean", "diamond")):
        fig.add_trace(go.Scatter(
            x=[getattr(lat, attr) for lat in lats], y=names, mode="markers", name=label,
            marker={"symbol": symbol, "size": 14 if symbol == "line-ns" else 8, "color": "#111",
                    "line": {"width": 2.5 if label == "p50" else 1.2, "color": "#111"}},
            customdata=names, hovertemplate=f"<b>%{{customdata}}</b><br>{label} %{{x:.3g}} ms<extra></extra>",
        ))
    xs = [lat.min for lat in lats] + [lat.max for lat in lats]  # type: ignore[union-attr]
    fig.update_layout(**_base_layout(
        "Latency distribution, batch 1 (bar p50–p99, whisker min–max)",
        xaxis=_axis(xs, "latency (ms)"),
        yaxis={"autorange": "reversed", "automargin": True}, barmode="overlay",
        height=max(320, 90 + 42 * len(rows)),
    ))
    return fig


def speedup_figure(results: Results) -> Any:
    import plotly.graph_objects as go

    rows = speedups(results)
    names = [r.name for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=names, x=[r.vs_toolchain_fp32 for r in rows], name="vs its toolchain's FP32", orientation="h",
        marker={"color": "#4C78A8"}, texttemplate="%{x:.2f}×", textposition="outside", cliponaxis=False,
        customdata=[[r.name, r.toolchain_fp32 or "none"] for r in rows],
        hovertemplate="<b>%{customdata[0]}</b><br>%{x:.2f}× vs %{customdata[1]}<extra></extra>",
    ))
    if results.reference:
        fig.add_trace(go.Bar(
            y=names, x=[r.vs_reference for r in rows], name=f"vs reference ({results.reference})", orientation="h",
            marker={"color": "#F58518"}, texttemplate="%{x:.2f}×", textposition="outside", cliponaxis=False,
            customdata=names,
            hovertemplate=f"<b>%{{customdata}}</b><br>%{{x:.2f}}× vs {escape(results.reference)}<extra></extra>",
        ))
    fig.add_vline(x=1.0, line={"color": "#555", "dash": "dash", "width": 1})
    top = max([r.vs_toolchain_fp32 or 0.0 for r in rows] + [r.vs_reference or 0.0 for r in rows] + [1.0])
    fig.update_layout(**_base_layout(
        "Speedup of batch-1 p50 latency (higher is faster)",
        xaxis={"title": {"text": "speedup (×)"}, "range": [0, top * 1.15]},
        yaxis={"autorange": "reversed", "automargin": True}, barmode="group",
        height=max(320, 110 + 46 * len(rows)),
    ))
    return fig
