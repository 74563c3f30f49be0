"""A results file written by quantarena 1.x (a real run, ``fixtures/results-v1``) still renders
with ``quantarena report`` and compares with ``quantarena compare``, against a 2.x run and
variant by variant from its per-image predictions."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from quantarena.cli import main
from quantarena.report.compare import compare_variants
from quantarena.results.io import load_results, save_results
from test_report_html import make_report_results

V1 = Path(__file__).parent / "fixtures" / "results-v1"

# Rows of the report.md that quantarena 1.x wrote for this run: the same numbers, same formats,
# plus the Kernel agree and Speed-up columns added since (dashes: 1.x measured neither).
V1_ROWS = [
    "| pytorch:int8-pt2e | ok | 72.50% | -6.38 [-8.8, -4.0] | 81.5% | – | 14.58 [14.43, 14.72] "
    "| 25.83 | – | 161.6 @32 | 4.66 | 1179 | 0.0150 | 25.3 |",
    "| onnxruntime:fp32 | ok | 78.88% | +0.00 [+0.0, +0.0] n.s. | 100.0% | – | 9.24 [9.14, 9.31] "
    "| 24.46 | – | 163.0 @32 | 13.99 | 528 | 0.0122 | 0.0 |",
    "| tensorrt:int8-simulated | ok | 77.00% | -1.88 [-3.2, -0.6] | 93.5% | – | – | – | – | – "
    "| 7.58 | 528 | – | 49.8 |",
]


@pytest.fixture
def v1_run(tmp_path: Path) -> Path:
    run = tmp_path / "v1"
    shutil.copytree(V1, run)
    assert json.loads((run / "results.json").read_text())["schema_version"].startswith("1.")
    return run


def test_report_renders_a_1x_file(v1_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(v1_run)]) == 0
    terminal = capsys.readouterr().out
    text = (v1_run / "report.md").read_text()
    for row in V1_ROWS:
        assert row in terminal and row in text
    assert "Machine: AMD EPYC (2 logical cores; ISA: avx2, fma), 2 threads, 23.5 GB" in text
    # the drift note was stored by 1.x and is derived again from the latency: shown once
    assert text.count("`pytorch:int8-pt2e`: batch-1 latency drifted +41.2%") == 1
    simulated = "- latency, throughput, energy of `tensorrt:int8-simulated`: graph simulated on CPU"
    assert simulated in text
    pngs = sorted(p.name for p in (v1_run / "charts").iterdir())
    assert pngs == [
        "accuracy_vs_latency.png",
        "accuracy_vs_size.png",
        "latency_distribution.png",
        "speedup.png",
    ]
    page = (v1_run / "report.html").read_text()
    match = re.search(r'Plotly\.newPlot\(\s*"chart-speedup",\s*(\[.*?\]),\s*\{', page, re.S)
    assert match
    baseline = json.loads(match.group(1))[0]
    against = dict(zip(baseline["y"], (c[1] for c in baseline["customdata"]), strict=True))
    assert against["pytorch:int8-pt2e"] == "pytorch:fp32"  # the baseline migrate.py filled in
    assert against["openvino:int8"] == "openvino:fp32"
    assert "tensorrt:int8-simulated" not in against  # not timed: no speedup


def test_compare_a_1x_run_with_a_2x_run(
    v1_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new"
    new.mkdir()
    save_results(make_report_results(), new)
    assert main(["compare", str(v1_run), str(new)]) == 0
    text = capsys.readouterr().out
    assert (
        "| pytorch:fp32 | 78.88% | 80.00% | 27.15 | 20.00 | 0.74× | 56.6 @32 | 75.0 @32 |" in text
    )
    assert "| pytorch:int8-pt2e | 72.50% | absent |" in text
    assert "| tensorrt:int8 | absent | unavailable |" in text
    for needle in (
        "CPU model differs: A `AMD EPYC`, B `Test CPU @ 2.0GHz`",
        "logical cores differs: A `2`, B `8`",
        "ISA flags differ: only A has none; only B has avx512_vnni, avx512bw, avx512f",
        "package `onnxruntime` differs: A 1.31.1, B 1.20.0",
        "package `openvino` differs: A 2026.4.1, B absent",
        "evaluation list (SHA-256) differs",
    ):
        assert needle in text, needle
    assert "Python differs" not in text and "threads differs" not in text


def test_compare_variants_of_a_1x_run(v1_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stored = load_results(v1_run).variant("pytorch:int8-pt2e")
    assert stored is not None and stored.accuracy and stored.accuracy.vs_reference
    paired = compare_variants(v1_run, "pytorch:fp32", "pytorch:int8-pt2e").paired
    ref = stored.accuracy.vs_reference  # what the 1.x run computed from the same predictions
    assert (paired.images, paired.gained, paired.lost) == (ref.images, ref.gained, ref.lost)
    assert paired.delta_pp == pytest.approx(ref.delta_pp)
    assert paired.mcnemar_p == pytest.approx(ref.mcnemar_p) and paired.significant
    assert main(["compare", str(v1_run), "--variants", "pytorch:fp32,pytorch:int8-pt2e"]) == 0
    out = capsys.readouterr().out
    assert "on the same 800 images" in out and "| Only A right (lost) | 74 |" in out
    assert "| Top-1 `pytorch:fp32` | 78.88% |" in out and "| Exact McNemar p |" in out
