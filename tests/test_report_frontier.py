"""The chart specs: Pareto frontier (pure), speedups vs each variant's declared baseline and vs the
reference, the log-axis rule, and both renderers drawing the same spec."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from quantarena.report.axes import value_axis, wants_log
from quantarena.report.chart_specs import SpeedupChart, TradeoffChart
from quantarena.report.charts import (
    accuracy_missing_reason,
    report_charts,
    speedup_chart,
    tradeoff_chart,
)
from quantarena.report.frontier import pareto_frontier
from quantarena.results.schema import Results
from test_report_html import OK_VARIANTS, make_report_results


def test_frontier_keeps_only_non_dominated_points_by_cost() -> None:
    points = [
        ("slow-best", 30.0, 0.81),
        ("fast-worse", 5.0, 0.70),
        ("mid", 10.0, 0.79),
        ("dominated", 12.0, 0.75),
        ("slower-same", 40.0, 0.81),
    ]
    assert pareto_frontier(points) == ["fast-worse", "mid", "slow-best"]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([], []),
        ([("only", 1.0, 0.5)], ["only"]),
        ([("a", 1.0, 0.5), ("b", 1.0, 0.5)], ["a", "b"]),  # exact ties both stay
        ([("a", 1.0, 0.5), ("b", 1.0, 0.6)], ["b"]),  # same cost: more accurate wins
        ([("a", 1.0, 0.6), ("b", 2.0, 0.6)], ["a"]),  # same accuracy: cheaper wins
        ([("nan", math.nan, 0.9), ("a", 1.0, 0.5)], ["a"]),  # non-finite values are ignored
    ],
)
def test_frontier_edge_cases(points: list[tuple[str, float, float]], expected: list[str]) -> None:
    assert pareto_frontier(points) == expected


def _speedups(results: Results) -> dict[str, tuple[Any, ...]]:
    """name -> (vs baseline, baseline name, vs reference)."""
    chart = speedup_chart(results)
    base, ref = chart.series
    return {n: (base.values[i], base.against[i], ref.values[i]) for i, n in enumerate(chart.names)}


def test_speedups_vs_baseline_and_reference() -> None:
    by_name = _speedups(make_report_results())
    assert set(by_name) == {spec[0] for spec in OK_VARIANTS}  # failed/unavailable rows: no latency
    assert by_name["pytorch:int8"][:2] == (pytest.approx(20.0 / 9.0), "pytorch:fp32")
    assert by_name["onnxruntime:int8"] == (
        pytest.approx(15.0 / 6.0),
        "onnxruntime:fp32",
        pytest.approx(20.0 / 6.0),
    )
    assert by_name["openvino:int8"] == (None, None, pytest.approx(20.0 / 6.5))  # no baseline


def test_speedup_chart_uses_the_declared_baseline_only() -> None:
    """The baseline is what the run declared (``v.baseline``), never guessed from names."""
    results = make_report_results()
    by_name = {v.name: v for v in results.variants}
    by_name["openvino:int8"].baseline = "onnxruntime:fp32"  # declared across toolchains: obeyed
    by_name["pytorch:int8"].baseline = None  # an FP32 of the same toolchain exists: not used
    by_name["onnxruntime:int8"].baseline = "onnxruntime:int8-dynamic"  # failed: no speedup
    speedups = _speedups(results)
    assert speedups["openvino:int8"][:2] == (pytest.approx(15.0 / 6.5), "onnxruntime:fp32")
    assert speedups["pytorch:int8"][:2] == (None, None)
    assert speedups["onnxruntime:int8"][0] is None
    assert speedups["pytorch:int8"][2] == pytest.approx(20.0 / 9.0)  # vs reference stays


def test_speedup_figure_names_the_baseline() -> None:
    pytest.importorskip("plotly")
    from quantarena.report.charts_plotly import figure

    results = make_report_results()
    v = results.variant("openvino:int8")
    assert v is not None
    v.baseline = "onnxruntime:fp32"
    bars = figure(speedup_chart(results)).data[0]
    row = list(bars.y).index("openvino:int8")
    assert bars.x[row] == pytest.approx(15.0 / 6.5)
    assert list(bars.customdata[row]) == ["openvino:int8", "onnxruntime:fp32"]


def test_log_axis_rule() -> None:
    assert not wants_log([1.0, 20.0]) and wants_log([1.0, 20.5])
    assert not wants_log([0.0, 100.0])  # non-positive values do not count
    wide = value_axis("ms", [0.5, 40.0])
    assert wide.log and wide.range is not None and wide.range[0] < 0.5 and wide.range[1] > 40.0
    assert {0.5, 1.0, 2.0, 5.0, 10.0, 20.0} <= set(wide.ticks)
    narrow = value_axis("ms", [6.0, 20.0])
    assert not narrow.log and narrow.ticks == () and narrow.range == pytest.approx((4.88, 21.12))


def test_both_renderers_follow_the_spec_log_decision() -> None:
    pytest.importorskip("plotly")
    pytest.importorskip("matplotlib")
    from quantarena.report.charts_plotly import figure
    from quantarena.report.charts_png import render

    results = make_report_results()
    assert not tradeoff_chart(results, "latency").x.log
    v = results.variant("openvino:int8")
    assert v is not None and v.latency_ms is not None
    v.latency_ms.p50 = 900.0  # 150x the fastest: a linear axis would crush the others
    v.latency_ms.p50_ci95 = [880.0, 920.0]
    chart = tradeoff_chart(results, "latency")
    assert chart.x.log and not chart.y.log
    assert figure(chart).layout.xaxis.type == "log"
    axes = render(chart).axes[0]
    assert axes.get_xscale() == "log" and axes.get_yscale() == "linear"


def test_charts_fall_back_without_accuracy_and_skip_empty_ones() -> None:
    assert accuracy_missing_reason(make_report_results()) is None
    assert "random weights" in (accuracy_missing_reason(make_report_results(accuracy=False)) or "")
    kinds = [type(c).__name__ for c in report_charts(make_report_results(accuracy=False))]
    assert kinds == ["BarChart", "BarChart", "LatencyChart", "SpeedupChart"]
    results = make_report_results()
    for v in results.variants:
        v.latency_ms = None
    charts = report_charts(results)
    assert [c.key for c in charts] == ["size"]  # nothing timed: no latency, speedup charts
    assert isinstance(charts[0], TradeoffChart) and not isinstance(charts[0], SpeedupChart)


def test_report_code_names_no_toolchain_and_builds_no_variant_name() -> None:
    """Which variant is whose baseline is declared by the run; report/ only reads it."""
    report = Path(__file__).resolve().parents[1] / "src" / "quantarena" / "report"
    for path in sorted(report.rglob("*.py")):
        code = path.read_text()
        for word in ("pytorch", "onnxruntime", "openvino", "tensorrt"):
            assert word not in code.lower(), f"{path.name} mentions {word!r}"
        assert "fp32" not in code, f"{path.name} names a recipe"  # prose may say FP32
        # "{toolchain}:{recipe}" (a label such as "{title}: value" has a space after the colon)
        assert not re.search(r"\}:[{\w]", code), f"{path.name} builds a variant name"


def test_latency_without_quartiles_is_drawn_as_a_summary_by_both_renderers() -> None:
    pytest.importorskip("plotly")
    pytest.importorskip("matplotlib")
    from quantarena.report.charts import latency_chart
    from quantarena.report.charts_plotly import figure
    from quantarena.report.charts_png import render

    results = make_report_results()
    assert latency_chart(results).boxes
    assert {t.type for t in figure(latency_chart(results)).data} == {"box"}
    v = results.variant("pytorch:int8")
    assert v is not None and v.latency_ms is not None
    v.latency_ms.p25 = None  # written before quartiles were stored
    chart = latency_chart(results)
    assert not chart.boxes and "bar p50–p99" in chart.caption
    traces = figure(chart).data
    assert "box" not in {t.type for t in traces}
    bars = [t for t in traces if t.type == "bar"]
    assert [b.y[0] for b in bars] == chart.categories == [s[0] for s in OK_VARIANTS]
    assert [b.base[0] for b in bars] == [s[3] for s in OK_VARIANTS]  # bars start at the p50
    assert len(render(chart).axes[0].patches) == len(OK_VARIANTS)
