"""The serving section of the reports, from a real LoadGen block: the table puts compute-only and
end to end side by side, each variant with Server runs gets its p99-vs-QPS chart with the bound,
and a run without scenarios shows none of it."""

from __future__ import annotations

from pathlib import Path

from conftest import EVALUATION_COUNT
from quantarena.report.charts import report_charts
from quantarena.report.charts_plotly import figure
from quantarena.report.charts_png import render
from quantarena.report.html import render_html
from quantarena.report.markdown import render_markdown
from quantarena.report.serving import HEADERS, ServingChart, serving_charts, serving_rows
from quantarena.results.scenarios import Scenarios
from quantarena.results.schema import Results
from serving_fixtures import TINY, evaluation, served, session
from test_report_html import make_report_results

__all__ = ["evaluation", "served", "session"]


def _with_scenarios(block: Scenarios) -> Results:
    results = make_report_results()
    results.variants[0] = results.variants[0].model_copy(update={"scenarios": block})
    return results


def test_table_sets_compute_beside_end_to_end(served: tuple[Scenarios, Path, Path]) -> None:
    block = served[0]
    results = _with_scenarios(block)
    rows = serving_rows(results)
    assert len(rows) == 1 and len(rows[0]) == len(HEADERS)
    name, single, extra = rows[0][:3]
    assert name == results.variants[0].name
    compute = block.run("single-stream", "compute")
    e2e = block.run("single-stream", "end-to-end")
    assert compute is not None and e2e is not None
    assert single == f"{compute.summary.latency_ms['90']:.2f} / {e2e.summary.latency_ms['90']:.2f}"
    assert extra == f"{block.end_to_end_extra_ms('90'):.2f}"
    offline = block.run("offline", "compute")
    assert offline is not None and offline.inputs_ms["mean"] > 0
    cell = dict(zip(HEADERS, rows[0], strict=True))["Offline batch · inputs ms per batch (compute)"]
    assert cell == f"{offline.max_batch} · {offline.inputs_ms['mean']:.2f}"
    assert rows[0][-1] == f"{EVALUATION_COUNT}/{EVALUATION_COUNT}, " \
        f"{EVALUATION_COUNT}/{EVALUATION_COUNT}"
    page = render_markdown(results)
    assert "## Serving scenarios (MLPerf LoadGen)" in page
    assert f"p99 bound {TINY.latency_bound_ms}" in page
    # how queries reached the model, as the runs recorded it: inline but for Server's
    assert "answered inline on LoadGen's issuing thread in single-stream, multi-stream, " \
        "offline" in page
    assert "which sleeps between queries, in server" in page
    assert "Serving scenarios (MLPerf LoadGen)</h2>" in render_html(results)


def test_one_chart_per_variant_with_server_runs(served: tuple[Scenarios, Path, Path]) -> None:
    results = _with_scenarios(served[0])
    charts = serving_charts(results)
    assert len(charts) == 1 and charts[0] in report_charts(results)
    chart = charts[0]
    assert set(chart.series) == {"compute", "end-to-end"}
    # one point per run: a rate run again with more queries (early stopping) adds a point
    assert all(len({p.qps for p in points}) == TINY.server_search_steps
               for points in chart.series.values())
    assert chart.bound_ms == TINY.latency_bound_ms
    fig = render(chart)
    assert [line.get_ydata()[0] for line in fig.axes[0].lines if line.get_linestyle() == "--"] \
        == [TINY.latency_bound_ms]
    assert len(figure(chart).data) == 2


def test_a_run_without_scenarios_has_no_serving_section() -> None:
    results = make_report_results()
    assert serving_rows(results) == [] and serving_charts(results) == []
    assert not any(isinstance(c, ServingChart) for c in report_charts(results))
    assert "Serving scenarios" not in render_markdown(results)
