"""The serving scenarios in the reports: one latency-vs-offered-QPS chart per variant (each
Server run LoadGen made while searching, p99 against its target QPS, the bound drawn) and one
table of the figures side by side, compute-only against end to end, so a reader sees how much of
the response time is preprocessing. From results only; drawing is matplotlib's or plotly's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quantarena.report import table_section
from quantarena.report.chart_specs import Chart
from quantarena.results.scenarios import Scenarios, ServerSearch
from quantarena.results.schema import Results, VariantResult

MODE_COLORS = {"compute": "#4C78A8", "end-to-end": "#F58518"}
DASH = "–"


@dataclass(frozen=True)
class QpsPoint:
    qps: float
    p99_ms: float
    valid: bool


@dataclass(frozen=True, kw_only=True)
class ServingChart(Chart):
    """One variant's Server runs: p99 latency against offered QPS, per mode, with the bound."""

    bound_ms: float
    series: dict[str, list[QpsPoint]]  # mode -> points, by QPS
    max_qps: dict[str, float | None]

    @property
    def has_data(self) -> bool:
        return any(self.series.values())


def _points(search: ServerSearch) -> list[QpsPoint]:
    points = [
        QpsPoint(t.summary.target_qps, t.summary.latency_ms["99"], t.summary.valid)
        for t in search.trials
        if t.summary.target_qps is not None and "99" in t.summary.latency_ms
    ]
    return sorted(points, key=lambda p: p.qps)


def serving_charts(results: Results) -> list[ServingChart]:
    charts = []
    for v in results.variants:
        if v.scenarios is None or not v.scenarios.server:
            continue
        bound = v.scenarios.server[0].latency_bound_ms
        slug = v.name.replace(":", "_")
        charts.append(ServingChart(
            key=f"serving-{slug}", file=f"serving_{slug}", label=f"{v.name}: p99 vs offered QPS",
            title=f"{v.name}: Server p99 latency vs offered QPS",
            caption=(
                f"Each point is one LoadGen Server run of the max-QPS search (filled: VALID, "
                f"hollow: INVALID); dashed: the {bound:g} ms p99 bound."
            ),
            bound_ms=bound,
            series={s.mode: _points(s) for s in v.scenarios.server},
            max_qps={s.mode: s.max_qps for s in v.scenarios.server},
        ))
    return [c for c in charts if c.has_data]


def draw_png(chart: ServingChart, ax: Any) -> None:
    for mode, points in chart.series.items():
        color = MODE_COLORS.get(mode, "#54A24B")
        xs, ys = [p.qps for p in points], [p.p99_ms for p in points]
        ax.plot(xs, ys, color=color, linewidth=1, label=_label(chart, mode))
        for p in points:
            ax.plot(p.qps, p.p99_ms, marker="o", markersize=6, color=color,
                    markerfacecolor=color if p.valid else "white")
    ax.axhline(chart.bound_ms, color="#B22222", linestyle="--", linewidth=1)
    ax.set_xlabel("offered load (target QPS, Poisson arrivals)")
    ax.set_ylabel("p99 latency (ms)")
    ax.figure.legend(fontsize=8, frameon=False, loc="outside lower center", ncols=2)


def draw_plotly(chart: ServingChart, go: Any) -> Any:
    fig = go.Figure()
    for mode, points in chart.series.items():
        color = MODE_COLORS.get(mode, "#54A24B")
        fig.add_trace(go.Scatter(
            x=[p.qps for p in points], y=[p.p99_ms for p in points], mode="lines+markers",
            name=_label(chart, mode), line={"color": color},
            marker={"size": 9, "color": [color if p.valid else "white" for p in points],
                    "line": {"color": color, "width": 2}},
            text=["VALID" if p.valid else "INVALID" for p in points],
            hovertemplate="%{x:.1f} QPS: p99 %{y:.2f} ms, %{text}<extra></extra>",
        ))
    fig.add_hline(y=chart.bound_ms, line={"color": "#B22222", "dash": "dash"},
                  annotation_text=f"p99 bound {chart.bound_ms:g} ms")
    fig.update_layout(title={"text": chart.title}, xaxis={"title": {"text": "offered QPS"}},
                      yaxis={"title": {"text": "p99 latency (ms)"}}, height=380,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


def _label(chart: ServingChart, mode: str) -> str:
    best = chart.max_qps.get(mode)
    return f"{mode} (max {best:.1f} QPS)" if best is not None else f"{mode} (none VALID)"


def _ms(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def _latency(s: Scenarios, scenario: str, mode: str, percentile: str) -> float | None:
    run = s.run(scenario, mode)
    if run is None:
        return None
    return run.summary.latency_ms.get(percentile)  # verdicts have their own column


def _rate(s: Scenarios, mode: str) -> str:
    run = s.run("offline", mode)
    return DASH if run is None or run.summary.samples_per_s is None else \
        f"{run.summary.samples_per_s:.1f}"


def _offline_inputs(s: Scenarios) -> str:
    """Compute-only Offline's batch and the mean time building each batch's inputs (gathering
    the cached images): the serving path's cost that the throughput pass, timing a ready batch,
    does not pay; it is where Offline falls short of the best fixed batch."""
    run = s.run("offline", "compute")
    if run is None or "mean" not in run.inputs_ms:
        return DASH
    return f"{run.max_batch} · {run.inputs_ms['mean']:.2f}"


def _qps(s: Scenarios, mode: str) -> str:
    search = s.search(mode)
    if search is None:
        return DASH
    if search.max_qps is not None:
        return f"{search.max_qps:.1f}"
    return "none (see notes)" if search.stopped else "none VALID"


def _verdicts(s: Scenarios) -> str:
    invalid = [f"{r.scenario} ({r.mode})" for r in s.runs if not r.summary.valid]
    return "all VALID" if not invalid else "INVALID: " + ", ".join(invalid)


def _agreement(s: Scenarios) -> str:
    if not s.accuracy:
        return DASH
    return ", ".join(f"{a.agree}/{a.images}" for a in s.accuracy)


HEADERS = [
    "Variant", "SS p90 ms (compute / e2e)", "e2e − compute p90 ms", "preprocess p90 ms",
    "MS p99 ms (compute / e2e)", "Offline img/s (compute / e2e)",
    "Offline batch · inputs ms per batch (compute)", "Server max QPS (compute / e2e)",
    "LoadGen verdicts", "Accuracy agreement",
]


def serving_rows(results: Results) -> list[list[str]]:
    """One row per variant with a ``scenarios`` block (cells as text)."""
    rows = []
    for v in results.variants:
        s = v.scenarios
        if s is None:
            continue
        pre = s.run("single-stream", "end-to-end")
        extra = s.end_to_end_extra_ms("90")
        rows.append([
            v.name,
            f"{_ms(_latency(s, 'single-stream', 'compute', '90'))} / "
            f"{_ms(_latency(s, 'single-stream', 'end-to-end', '90'))}",
            _ms(extra),
            _ms(pre.preprocess_ms.get("p90") if pre is not None else None),
            f"{_ms(_latency(s, 'multi-stream', 'compute', '99'))} / "
            f"{_ms(_latency(s, 'multi-stream', 'end-to-end', '99'))}",
            f"{_rate(s, 'compute')} / {_rate(s, 'end-to-end')}",
            _offline_inputs(s),
            f"{_qps(s, 'compute')} / {_qps(s, 'end-to-end')}",
            _verdicts(s),
            _agreement(s),
        ])
    return rows


def serving_note(results: Results) -> str:
    """How the table was measured, from the first variant's recorded settings."""
    first: VariantResult | None = next((v for v in results.variants if v.scenarios), None)
    if first is None or first.scenarios is None:
        return ""
    cfg, pre = first.scenarios.settings, first.scenarios.preprocessing
    official = "MLPerf's official settings" if cfg.get("mlperf_official") else (
        f"at least {cfg.get('min_duration_s')} s per run")
    text = (
        f"MLPerf LoadGen {cfg.get('loadgen', '')}, {official}; Server: Poisson arrivals, p99 "
        f"bound {cfg.get('latency_bound_ms')} ms, dynamic batching up to "
        f"{cfg.get('server_max_batch')} samples waiting at most {cfg.get('server_max_wait_ms')} "
        f"ms, {cfg.get('server_search_steps')} bisection steps; {_idle_text(first.scenarios)}."
    )
    if pre:
        text += f" End to end: {pre.get('library')}, {pre.get('threads')} decoding thread(s)."
    return text


#: how queries reached the model, by a run's recorded ``idle``
REACHED = {
    "inline": "answered inline on LoadGen's issuing thread",
    "spin": "queued to the serving thread, which polls between queries,",
    "sleep": "queued to the serving thread, which sleeps between queries,",
}


def _idle_text(s: Scenarios) -> str:
    """How queries reached the model, per scenario, as each run recorded it (runs from before
    the SUT could answer inline or spin recorded "sleep")."""
    ways: dict[str, list[str]] = {}
    for run in [*s.runs, *(trial for search in s.server for trial in search.trials)]:
        way = REACHED.get(run.idle, run.idle)
        if run.scenario not in ways.setdefault(way, []):
            ways[way].append(run.scenario)
    return "queries " + "; ".join(
        f"{way} in {', '.join(scenarios)}" for way, scenarios in ways.items()
    )


TITLE = "Serving scenarios (MLPerf LoadGen)"


def markdown_section(results: Results) -> list[str]:
    rows = serving_rows(results)
    return table_section.markdown_section(TITLE, serving_note(results) if rows else "", HEADERS,
                                          rows)


def html_section(results: Results) -> str:
    rows = serving_rows(results)
    return table_section.html_section(TITLE, serving_note(results) if rows else "", HEADERS, rows)
