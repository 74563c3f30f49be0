"""``quantarena report`` rebuilds report.md, its PNG charts and report.html from results.json
alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import quantarena.runner.pipeline
from quantarena.cli import main
from quantarena.report.markdown import write_markdown
from quantarena.report.table import markdown_table, table_rows
from quantarena.results.io import save_results
from test_report_html import make_report_results


def test_report_command_reproduces_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = make_report_results()
    save_results(results, tmp_path)
    expected = write_markdown(results, tmp_path).read_text()
    shutil.rmtree(tmp_path / "charts")
    (tmp_path / "report.md").unlink()

    def no_run(*_: object, **__: object) -> None:
        raise AssertionError("report must not run anything")

    monkeypatch.setattr(quantarena.runner.pipeline, "run_benchmark", no_run)
    assert main(["report", str(tmp_path)]) == 0
    assert markdown_table(results) in capsys.readouterr().out
    assert (tmp_path / "report.md").read_text() == expected
    page = (tmp_path / "report.html").read_text()
    for cells in table_rows(results):
        assert f"<code>{cells[0]}</code>" in page
    pngs = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert pngs == [
        "accuracy_vs_latency.png",
        "accuracy_vs_size.png",
        "latency_distribution.png",
        "speedup.png",
    ]
    for name in pngs:
        assert f"](charts/{name})" in expected
        assert (tmp_path / "charts" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_charts_fall_back_without_accuracy(tmp_path: Path) -> None:
    text = write_markdown(make_report_results(accuracy=False), tmp_path).read_text()
    assert "](charts/latency_p50.png)" in text and "](charts/size.png)" in text
    assert "accuracy_vs_latency" not in text
