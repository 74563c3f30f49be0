"""The interleaved block in results and reports: it round-trips through results.json, files
without it still load and render, the table's Speed-up column and the speed-up chart use the
paired rounds with their CIs, the machine's line and chart come from its trace, and ``compare
--variants`` prints the one-line verdict for speed and accuracy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from quantarena.cli import main
from quantarena.measure.machine_state import MachineSample, MachineTrace
from quantarena.report.chart_specs import MachineChart, SpeedupChart
from quantarena.report.charts import report_charts
from quantarena.report.columns import speedup_cell, speedup_style
from quantarena.report.findings import machine_line, rounds_lines
from quantarena.report.html import render_html
from quantarena.report.markdown import render_markdown
from quantarena.results.interleaved import Interleaved, RoundWindow, WorkerStart
from quantarena.results.io import load_results, save_results
from quantarena.results.schema import Results
from quantarena.results.speedup import PairedSpeedup
from test_report_compare import _with_predictions
from test_report_html import make_report_results

#: per-variant time relative to the reference, and each one's per-round noise
TIMES = {"pytorch:fp32": 20.0, "pytorch:int8": 9.0, "onnxruntime:fp32": 15.0,
         "onnxruntime:int8": 6.0, "openvino:int8": 20.0}


def make_interleaved(rounds: int = 8, slow_from: int | None = None) -> Interleaved:
    """Rounds of the report fixture's five ok variants: the machine wobbles (and, from
    ``slow_from``, runs 2× slower); each variant has a little noise of its own."""
    names = list(TIMES)
    medians: dict[str, list[float | None]] = {n: [] for n in names}
    samples = []
    for r in range(rounds):
        machine = (2.0 if slow_from is not None and r >= slow_from else 1.0) * (
            1 + 0.08 * math.sin(r))
        for k, name in enumerate(names):
            medians[name].append(TIMES[name] * machine * (1 + 0.01 * math.sin(3 * r + k)))
        samples.append(MachineSample(round=r, offset_s=3.0 * r, interval_s=3.0,
                                     reference_s=0.07 * machine, cores=2, busy_s=5.9,
                                     steal_s=0.0, own_cpu_s=5.8, others_cpu_s=0.1))
    medians["onnxruntime:int8"][2] = None
    ref = names[0]
    speedups = [PairedSpeedup.of(ref, n, medians[ref], medians[n]) for n in names[1:]]
    speedups.append(PairedSpeedup.of("onnxruntime:fp32", "onnxruntime:int8",
                                     medians["onnxruntime:fp32"], medians["onnxruntime:int8"]))
    return Interleaved(
        reference=ref, variants=names, seed=0, window_seconds=0.5, window_calls=5,
        target_ci=0.03, order=[names[r % 5:] + names[: r % 5] for r in range(rounds)],
        medians_ms=medians,
        windows={n: [RoundWindow(round=r, median_ms=m, measured_ms=m or 6.1, calls=20,
                                 seconds=0.5, cpu_s=1.0, others_cpu_percent=1.0,
                                 discarded=None if m else "interference 40% of the CPU")
                     for r, m in enumerate(ms)] for n, ms in medians.items()},
        machine=MachineTrace(samples=samples), waiting_cpu_s=[{n: 0.0 for n in names}] * rounds,
        stop_reason="converged", seconds=24.0, load_seconds=6.0, speedups=speedups,
    )


def with_rounds(results: Results | None = None, **extra: object) -> Results:
    results = results or make_report_results()
    results.interleaved = make_interleaved(**extra)  # type: ignore[arg-type]
    return results


def test_the_block_round_trips_and_old_files_load_without_it(tmp_path: Path) -> None:
    results = with_rounds()
    save_results(results, tmp_path)
    again = load_results(tmp_path)
    assert again.interleaved == results.interleaved
    assert again.interleaved is not None and again.interleaved.medians_ms["onnxruntime:int8"][2] \
        is None
    data = json.loads((tmp_path / "results.json").read_text())
    del data["interleaved"]
    (tmp_path / "results.json").write_text(json.dumps(data))
    old = load_results(tmp_path)
    assert old.interleaved is None
    assert main(["report", str(tmp_path)]) == 0  # reports of files without it still render


def test_the_slowest_variants_to_load_are_named_with_their_load_and_the_warm_ups() -> None:
    def start(variant: str, worker: int, started: float | None, load: float) -> WorkerStart:
        return WorkerStart(variant=variant, worker=worker, started_s=started, load_s=load,
                           warmup_s=1.5, warmup_calls=40, warmup_stable=True, rss_mb=300.0)

    block = make_interleaved()
    assert block.loading_line() is None  # none recorded: older results, or a fallback
    block.workers = [start("pytorch:fp32", 0, 6.5, 1.2), start("pytorch:fp32", 1, 7.0, 1.4),
                     start("pytorch:int8", 0, 27.0, 21.0), start("pytorch:int8", 1, 25.0, 20.0),
                     start("onnxruntime:fp32", 0, 2.0, 0.3), start("onnxruntime:int8", 0, 2.5, 0.4),
                     start("openvino:int8", 0, None, 3.0)]  # a worker that did not say its age
    assert block.loading_line() == (
        "timing workers slowest to load: pytorch:int8 27 s (its load 21 s), pytorch:fp32 "
        "7.0 s (its load 1.4 s), openvino:int8 3.0 s (its load 3.0 s); warm-ups 10 s in all")
    again = Interleaved.model_validate_json(block.model_dump_json())
    assert again.workers == block.workers


def test_pairs_come_from_the_stored_speedups_or_the_medians() -> None:
    block = make_interleaved()
    stored = block.pair("onnxruntime:fp32", "onnxruntime:int8")
    assert stored is block.speedups[-1] and stored.dropped_rounds == 1
    computed = block.pair("pytorch:int8", "onnxruntime:int8")
    assert computed is not None and computed.speedup == pytest.approx(1.5, rel=0.02)
    assert block.vs_reference("pytorch:fp32") is None
    assert block.vs_reference("openvino:int8") is not None


def test_the_speedup_column_shows_the_paired_ratio_its_ci_and_ns() -> None:
    results = with_rounds()
    cells = {v.name: speedup_cell(v, results) for v in results.variants if v.status == "ok"}
    assert cells["pytorch:fp32"].text == "ref"
    int8 = cells["pytorch:int8"]
    assert int8.text == "2.22×" and int8.ci.startswith("[2.2") and "n.s." not in int8.ci
    assert cells["openvino:int8"].ci.endswith("n.s.")
    styles = {v.name: speedup_style(v, results) for v in results.variants if v.status == "ok"}
    assert styles["pytorch:int8"] == "sig-up" and styles["openvino:int8"] == "ns"
    assert styles["pytorch:fp32"] == "ref"
    plain = make_report_results()
    assert {speedup_cell(v, plain).text for v in plain.variants} == {"–"}


def test_reports_say_how_the_rounds_ended_and_what_the_machine_did() -> None:
    steady = with_rounds()
    line = machine_line(steady)
    assert line is not None and "reference workload ran within" in line and "8 rounds" in line
    slow = with_rounds(slow_from=5)
    line = machine_line(slow)
    assert line is not None and "slower between" in line
    lines = rounds_lines(slow)
    assert lines[0].startswith("8 interleaved round(s) of 5 variants in 24 s: stopped because "
                               "every speed-up vs the reference is within ±3%")
    assert any("1 of 8 rounds of onnxruntime:int8" in n for n in lines)
    markdown = render_markdown(slow)
    assert "Interleaved rounds:" in markdown and "| Speed-up |" in markdown
    assert "slower between" in render_html(slow)
    assert machine_line(make_report_results()) is None


def test_the_speedup_chart_uses_the_rounds_with_cis_and_the_machine_is_charted() -> None:
    charts = {c.key: c for c in report_charts(with_rounds())}
    speed = charts["speedup"]
    assert isinstance(speed, SpeedupChart) and "interleaved" in speed.title
    reference = speed.series[-1]
    assert reference.ci is not None
    index = speed.names.index("pytorch:int8")
    value, ci = reference.values[index], reference.ci[index]
    assert value is not None and ci is not None and ci[0] < value < ci[1]
    assert reference.values[0] == 1.0 and reference.ci[0] is None  # the reference itself
    baseline = speed.series[0]
    assert baseline.against[speed.names.index("onnxruntime:int8")] == "onnxruntime:fp32"
    machine = charts["machine"]
    assert isinstance(machine, MachineChart) and len(machine.relative) == 8
    assert min(machine.relative) == 1.0
    plain = {c.key for c in report_charts(make_report_results())}
    assert "machine" not in plain and "speedup" in plain  # the per-variant p50 chart as before


def test_both_chart_renderers_draw_the_new_charts(tmp_path: Path) -> None:
    from quantarena.report.charts_plotly import figure
    from quantarena.report.charts_png import write_charts

    results = with_rounds(slow_from=4)
    for chart in report_charts(results):
        assert figure(chart) is not None
    written = dict(write_charts(results, tmp_path))
    assert written["Machine during the rounds"].exists() and written["Speedup"].exists()


def test_compare_prints_the_verdict_for_speed_and_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, rounds = tmp_path / "plain", tmp_path / "rounds"
    plain.mkdir(), rounds.mkdir()
    _with_predictions(plain)
    _with_predictions(rounds)
    save_results(with_rounds(load_results(rounds)), rounds)
    assert main(["compare", str(rounds), "--variants", "pytorch:fp32,pytorch:int8"]) == 0
    out = capsys.readouterr().out
    verdict = next(line for line in out.splitlines() if line.startswith("**Verdict:**"))
    assert verdict.startswith("**Verdict:** pytorch:int8 is 2.22× faster than pytorch:fp32, "
                              "95% CI [2.2")
    assert "; top-1 \u22128.00 pp, CI [" in verdict and "significant (McNemar p = " in verdict
    assert "| Speed-up B over A (A time / B time) | 2.22×" in out
    assert main(["compare", str(plain), "--variants", "pytorch:fp32,pytorch:int8"]) == 0
    assert "**Verdict:** speed not measured in interleaved rounds; top-1" in \
        capsys.readouterr().out
