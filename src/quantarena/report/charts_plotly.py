"""Draws the chart specs of ``charts`` as interactive plotly figures for ``report.html``. Only
drawing lives here; what to show was decided in ``charts``. plotly is imported when drawing."""

from __future__ import annotations

import math
from html import escape
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
from quantarena.report.serving import ServingChart
from quantarena.report.serving import draw_plotly as draw_serving

FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"


def _axis(axis: Axis, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"title": {"text": axis.title}, "type": "log" if axis.log else "linear"}
    if axis.range is not None:
        lo, hi = axis.range
        out["range"] = [math.log10(lo), math.log10(hi)] if axis.log else [lo, hi]
    if axis.ticks:
        out.update(tickvals=list(axis.ticks), ticktext=[tick_label(t) for t in axis.ticks])
    return out | extra


def _layout(chart: Chart, **extra: Any) -> dict[str, Any]:
    rows = len(chart.categories)
    layout: dict[str, Any] = {
        "title": {"text": chart.title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        "template": "plotly_white", "margin": {"l": 60, "r": 24, "t": 48, "b": 40},
        "height": max(320, 100 + 44 * rows) if rows else 400,
        "font": {"family": FONT, "size": 12}, "hoverlabel": {"font": {"size": 12}},
        "legend": {"orientation": "h", "y": -0.2, "x": 0, "yanchor": "top"},
    }
    return layout | extra


_CATEGORIES = {"autorange": "reversed", "automargin": True}  # first row on top


def _tradeoff(chart: TradeoffChart, go: Any) -> Any:
    fig = go.Figure()
    hover = (f"<b>%{{customdata[0]}}</b><br>{escape(chart.x.title)}: %{{x:.3g}}<br>"
             f"{escape(chart.y.title)}: %{{y:.2f}}<br>%{{customdata[1]}}<extra></extra>")
    for s in chart.series:
        pts = s.points
        error_x = None
        if all(p.x_ci for p in pts):
            error_x = {"type": "data", "symmetric": False, "thickness": 1, "width": 3,
                       "color": s.color, "array": [p.x_ci[1] - p.x for p in pts if p.x_ci],
                       "arrayminus": [p.x - p.x_ci[0] for p in pts if p.x_ci]}
        fig.add_trace(go.Scatter(
            x=[p.x for p in pts], y=[p.y for p in pts], mode="markers+text", name=s.name,
            error_x=error_x, cliponaxis=False, textposition="top center",
            text=[p.name if p.on_frontier else "" for p in pts],
            textfont={"size": 10, "color": "#333"},
            customdata=[[p.name, "on the Pareto frontier" if p.on_frontier else "dominated"]
                        for p in pts],
            hovertemplate=hover,
            marker={"color": s.color, "size": [14 if p.on_frontier else 10 for p in pts],
                    "line": {"color": ["#111" if p.on_frontier else "#fff" for p in pts],
                             "width": [2 if p.on_frontier else 1 for p in pts]}},
        ))
    fig.add_trace(go.Scatter(
        x=[p.x for p in chart.frontier], y=[p.y for p in chart.frontier], mode="lines",
        line={"shape": "hv", "dash": "dot", "color": "#111", "width": 1.5},
        name="Pareto frontier", hoverinfo="skip",
    ))
    fig.update_layout(**_layout(chart, xaxis=_axis(chart.x), yaxis=_axis(chart.y)))
    return fig


def _bars(chart: BarChart, go: Any) -> Any:
    bars = chart.bars
    fig = go.Figure(go.Bar(
        y=[b.name for b in bars], x=[b.value for b in bars], orientation="h",
        marker={"color": [b.color for b in bars]}, customdata=[b.name for b in bars],
        hovertemplate=f"<b>%{{customdata}}</b><br>{escape(chart.axis.title)}: %{{x:.3g}}"
                      "<extra></extra>",
    ))
    fig.update_layout(**_layout(chart, xaxis=_axis(chart.axis), yaxis=_CATEGORIES,
                                showlegend=False))
    return fig


def _latency(chart: LatencyChart, go: Any) -> Any:
    fig = go.Figure()
    for r in chart.rows:
        hover = (f"<b>{escape(r.name)}</b><br>min {r.min:.3g} · p50 {r.p50:.3g} · "
                 f"p90 {r.p90:.3g} · p99 {r.p99:.3g} · max {r.max:.3g} ms<br>mean {r.mean:.3g} ms, "
                 f"{r.iterations} calls<extra></extra>")
        if chart.boxes:
            fig.add_trace(go.Box(
                name=r.name, y=[r.name], orientation="h", q1=[r.p25], median=[r.p50], q3=[r.p75],
                lowerfence=[r.min], upperfence=[r.max], mean=[r.mean], showlegend=False,
                marker={"color": r.color}, line={"color": r.color}, fillcolor=r.color, opacity=0.8,
                hoverinfo="name+x",
            ))
            continue
        fig.add_trace(go.Scatter(
            x=[r.min, r.max], y=[r.name, r.name], mode="lines", showlegend=False,
            line={"color": "#999", "width": 1.5}, hoverinfo="skip"))
        fig.add_trace(go.Bar(
            y=[r.name], x=[r.p99 - r.p50], base=[r.p50], orientation="h", width=0.5,
            marker={"color": r.color, "opacity": 0.75}, showlegend=False, hovertemplate=hover))
        fig.add_trace(go.Scatter(
            x=[r.p50, r.p90, r.mean], y=[r.name] * 3, mode="markers", showlegend=False,
            hovertemplate=hover,
            marker={"symbol": ["line-ns", "line-ns", "diamond"], "size": [14, 10, 8],
                    "color": "#111", "line": {"width": 2, "color": "#111"}}))
    fig.update_layout(**_layout(chart, xaxis=_axis(chart.axis), yaxis=_CATEGORIES,
                                barmode="overlay"))
    return fig


def _speedups(chart: SpeedupChart, go: Any) -> Any:
    fig = go.Figure()
    for s in chart.series:
        error_x = None
        if s.ci is not None:
            error_x = {"type": "data", "symmetric": False, "thickness": 1.2, "width": 4,
                       "color": "#333",
                       "array": [c[1] - v if c and v else 0 for v, c in zip(s.values, s.ci,
                                                                          strict=True)],
                       "arrayminus": [v - c[0] if c and v else 0 for v, c in zip(s.values, s.ci,
                                                                               strict=True)]}
        fig.add_trace(go.Bar(
            y=chart.names, x=s.values, name=s.label, orientation="h", marker={"color": s.color},
            error_x=error_x,
            texttemplate="%{x:.2f}×", textposition="outside", cliponaxis=False,
            customdata=[[n, a or "none"] for n, a in zip(chart.names, s.against, strict=True)],
            hovertemplate="<b>%{customdata[0]}</b><br>%{x:.2f}× vs %{customdata[1]}<extra></extra>",
        ))
    fig.add_vline(x=1.0, line={"color": "#555", "dash": "dash", "width": 1})
    fig.update_layout(**_layout(chart, xaxis=_axis(chart.axis), yaxis=_CATEGORIES,
                                barmode="group"))
    return fig


def _machine(chart: MachineChart, go: Any) -> Any:
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=chart.offsets_s, y=chart.relative, mode="lines+markers", name="reference workload",
        line={"color": "#4C78A8"},
        hovertemplate="round at %{x:.0f} s: %{y:.2f}× its fastest<extra></extra>",
    ))
    for label, values, color in (("steal", chart.steal, "#E45756"),
                                 ("other processes", chart.others, "#F58518")):
        if any(v is not None for v in values):
            fig.add_trace(go.Scatter(
                x=chart.offsets_s, y=values, mode="lines", name=f"{label} (share of CPU)",
                yaxis="y2", line={"color": color, "dash": "dot"},
                hovertemplate=f"{label}: %{{y:.0%}}<extra></extra>",
            ))
    fig.update_layout(**_layout(
        chart, xaxis={"title": {"text": "seconds into the rounds"}},
        yaxis={"title": {"text": "reference workload (× fastest)"}},
        yaxis2={"title": {"text": "share of CPU"}, "overlaying": "y", "side": "right",
                "range": [0, 1], "tickformat": ".0%"},
    ))
    return fig


def figure(chart: Chart) -> Any:
    """The plotly figure of one chart spec."""
    import plotly.graph_objects as go

    if isinstance(chart, TradeoffChart):
        return _tradeoff(chart, go)
    if isinstance(chart, BarChart):
        return _bars(chart, go)
    if isinstance(chart, LatencyChart):
        return _latency(chart, go)
    if isinstance(chart, SpeedupChart):
        return _speedups(chart, go)
    if isinstance(chart, MachineChart):
        return _machine(chart, go)
    if isinstance(chart, ServingChart):
        return draw_serving(chart, go)
    raise TypeError(f"no plotly drawing for {type(chart).__name__}")


def chart_html(chart: Chart) -> str:
    """The chart as a ``<div>`` and its script (plotly.js itself is inlined once by the page)."""
    config = {"displaylogo": False, "responsive": True,
              "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
    html: str = figure(chart).to_html(full_html=False, include_plotlyjs=False,
                                      div_id=f"chart-{chart.key}", config=config)
    return html
