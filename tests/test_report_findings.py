"""What was not measured and the notes, computed once (``findings``) and shown by report.md and
report.html alike, derived notes included."""

from __future__ import annotations

from html import escape

from quantarena.report.findings import notes, unmeasured
from quantarena.report.html import render_html
from quantarena.report.markdown import render_markdown
from quantarena.results.measurements import Contention
from quantarena.results.schema import Results
from test_report_html import OK_VARIANTS, make_report_results

BUSY = "other processes used 35% of the CPU while this variant was timed"


def _results() -> Results:
    results = make_report_results()
    v = results.variant("openvino:int8")
    assert v is not None
    v.unavailable["accuracy"] = "labels missing"
    v.contention = Contention(window_s=3.0, others_cpu_percent=35.0, own_cpu_percent=60.0)
    v.notes = [f"{BUSY}: its latency and throughput may be inflated"]  # stored, and derived again
    return results


def test_unmeasured_groups_by_reason_and_notes_include_derived_ones() -> None:
    results = _results()
    missing = {(m.what, m.why): m for m in unmeasured(results)}
    energy = missing[
        ("energy", "no RAPL (/sys/class/powercap) or NVML energy counter readable here")
    ]
    assert energy.every_measured and len(energy.variants) == len(OK_VARIANTS)
    accuracy = missing[("accuracy", "labels missing")]
    assert accuracy.variants == ("openvino:int8",) and not accuracy.every_measured
    found = [(n.variant, n.text) for n in notes(results)]
    assert sum(BUSY in text for _, text in found) == 1  # derived from the numbers, shown once
    assert ("pytorch:int8", "calibrated on 32 images") in found
    v = results.variant("openvino:int8")
    assert v is not None
    v.notes = []
    assert any(BUSY in n.text for n in notes(results))  # a 2.x file stores none: still derived


def test_markdown_and_html_show_the_same_findings() -> None:
    results = _results()
    text, page = render_markdown(results), render_html(results)
    assert "- energy of every measured variant: no RAPL" in text
    assert "<li><b>energy</b> (every measured variant): no RAPL" in page
    assert "- accuracy of `openvino:int8`: labels missing" in text
    assert "<li><b>accuracy</b> (<code>openvino:int8</code>): labels missing</li>" in page
    for note in notes(results):
        assert f"- `{note.variant}`: {note.text}" in text
        assert f"<li><code>{escape(note.variant)}</code>: {escape(note.text)}</li>" in page


def test_measurements_missing_for_one_reason_share_a_line() -> None:
    results = make_report_results()
    v = results.variant("onnxruntime:int8")
    assert v is not None
    for what in ("latency", "throughput", "cpu_time"):
        v.unavailable[what] = "simulated on the CPU"
    v.unavailable["kernel"] = "already exact"
    missing = {m.why: m for m in unmeasured(results)}
    assert missing["simulated on the CPU"].what == "latency, throughput, cpu_time"
    assert missing["simulated on the CPU"].variants == ("onnxruntime:int8",)
    assert missing["already exact"].what == "kernel"
    assert "latency, throughput, cpu_time of `onnxruntime:int8`" in render_markdown(results)
