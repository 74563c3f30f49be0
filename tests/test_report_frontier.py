"""The chart data helpers: Pareto frontier (pure), speedups per toolchain and vs the reference."""

from __future__ import annotations

import math

import pytest
from test_report_html import OK_VARIANTS, make_report_results

from quantarena.report.chart_data import accuracy_missing_reason, pareto_frontier, speedups


def test_frontier_keeps_only_non_dominated_points_by_cost() -> None:
    points = [("slow-best", 30.0, 0.81), ("fast-worse", 5.0, 0.70), ("mid", 10.0, 0.79),
              ("dominated", 12.0, 0.75), ("slower-same", 40.0, 0.81)]
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


def test_speedups_vs_toolchain_fp32_and_reference() -> None:
    by_name = {s.name: s for s in speedups(make_report_results())}
    assert set(by_name) == {spec[0] for spec in OK_VARIANTS}  # failed/unavailable rows have no latency
    assert by_name["pytorch:int8"].vs_toolchain_fp32 == pytest.approx(20.0 / 9.0)
    assert by_name["pytorch:int8"].toolchain_fp32 == "pytorch:fp32"
    assert by_name["onnxruntime:int8"].vs_toolchain_fp32 == pytest.approx(15.0 / 6.0)
    assert by_name["onnxruntime:int8"].vs_reference == pytest.approx(20.0 / 6.0)
    assert by_name["openvino:int8"].vs_toolchain_fp32 is None  # no openvino FP32 in this run
    assert by_name["openvino:int8"].vs_reference == pytest.approx(20.0 / 6.5)


def test_accuracy_missing_reason() -> None:
    assert accuracy_missing_reason(make_report_results()) is None
    assert "random weights" in (accuracy_missing_reason(make_report_results(accuracy=False)) or "")
