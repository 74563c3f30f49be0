"""The one column list: the terminal table, report.md and report.html show the same cells, the
formats readers rely on, the delta column's classes, and a new column is one entry."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from quantarena.cli import main
from quantarena.report import columns
from quantarena.report.columns import COLUMNS, Cell, Column, table_cells
from quantarena.report.html import render_html
from quantarena.report.markdown import render_markdown
from quantarena.report.table import markdown_table
from quantarena.results.io import save_results
from quantarena.results.schema import Results
from test_report_html import OK_VARIANTS, make_report_results


class _HeadlineTable(HTMLParser):
    """Rows of ``#headline``: per cell its class, its text outside ``.ci`` and inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.header: list[str] = []
        self.rows: list[list[dict[str, str]]] = []
        self._in_table = self._in_ci = False
        self._cell: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id") == "headline":
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self._cell = {
                "tag": tag,
                "class": a.get("class") or "",
                "text": "",
                "ci": "",
                "colspan": a.get("colspan") or "1",
            }
        elif self._cell is not None and tag == "span" and a.get("class") == "ci":
            self._in_ci = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag == "span":
            self._in_ci = False
        elif tag in ("td", "th") and self._cell is not None:
            self._cell = {k: v.strip() for k, v in self._cell.items()}
            if self._cell["tag"] == "th":
                self.header.append(self._cell["text"])
            else:
                self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["ci" if self._in_ci else "text"] += data


def _html_table(page: str) -> _HeadlineTable:
    parser = _HeadlineTable()
    parser.feed(page)
    parser.rows = [r for r in parser.rows if r]  # the header row has no td
    return parser


def _md_rows(text: str) -> list[list[str]]:
    table = text[text.index("| Variant |") :].split("\n\n")[0].splitlines()
    return [line.strip("| ").split(" | ") for line in table[2:]]


def _with_repeats(results: Results) -> Results:
    v = results.variant("onnxruntime:int8")
    assert v is not None and v.latency_ms is not None
    v.latency_ms.p50_runs = [5.9, 6.0, 6.4]
    v.latency_ms.p50_between_runs = {"low": 5.9, "high": 6.4, "coverage": 0.75}
    return results


def test_terminal_markdown_and_html_show_the_same_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _with_repeats(make_report_results())
    save_results(results, tmp_path)
    assert main(["report", str(tmp_path)]) == 0
    terminal = _md_rows(capsys.readouterr().out)
    markdown = _md_rows((tmp_path / "report.md").read_text())
    html = _html_table((tmp_path / "report.html").read_text())
    expected = table_cells(results)
    assert html.header == [c.title for c in COLUMNS]
    assert terminal == markdown == [[c.plain.replace("|", "/") for c in row] for row in expected]
    assert len(html.rows) == len(expected) == len(results.variants)
    for v, cells, tds in zip(results.variants, expected, html.rows, strict=True):
        assert tds[0]["text"].removesuffix("◆").strip() == v.name
        if v.status != "ok":  # the pill, then one cell with the reason
            assert [td["text"] for td in tds[1:]] == [v.status, v.reason]
            continue
        for column, cell, td in zip(COLUMNS[2:], cells[2:], tds[2:], strict=True):
            assert (td["text"], td["ci"]) == (cell.text, cell.ci), column.title
    assert any(td["ci"] for row in html.rows for td in row)  # the CIs really were set apart


def test_cell_formats() -> None:
    rows = {
        r[0].text: [c.plain for c in r] for r in table_cells(_with_repeats(make_report_results()))
    }
    title = [c.title for c in COLUMNS].index
    assert rows["pytorch:fp32"][title("Δ top-1 (pp)")] == "ref"
    assert rows["pytorch:int8"][title("Δ top-1 (pp)")] == "-2.00 [-3.5, -0.5]"  # significant
    assert rows["onnxruntime:int8"][title("Δ top-1 (pp)")] == "-0.50 [-2.0, +1.0] n.s."
    assert rows["pytorch:fp32"][title("p50 ms")] == "20.00 [19.60, 20.40]"
    assert rows["onnxruntime:int8"][title("p50 ms")] == "6.00 [5.90, 6.40]×3"
    assert rows["pytorch:fp32"][title("img/s")] == "75.0 @32"
    assert rows["pytorch:fp32"][title("Top-1")] == "80.00%"
    assert rows["pytorch:int8"][title("Agree")] == "96.0%"
    assert rows["pytorch:fp32"][title("CPU s/img")] == "0.0400"  # from cpu_time
    assert rows["pytorch:fp32"][title("Peak RSS MB")] == "314"
    assert rows["tensorrt:int8"][1:] == ["unavailable: no NVIDIA GPU"] + ["–"] * (len(COLUMNS) - 2)
    assert (
        "| onnxruntime:int8-dynamic | failed: measure: worker crashed (SIGSEGV) / exit -11 |"
        in (markdown_table(make_report_results()))
    )


def test_delta_column_classes_in_html() -> None:
    html = _html_table(render_html(make_report_results()))
    delta = [c.title for c in COLUMNS].index("Δ top-1 (pp)")
    classes = {
        row[0]["text"].removesuffix("◆").strip(): row[delta]["class"]
        for row in html.rows
        if len(row) > delta
    }
    assert classes == {
        "pytorch:fp32": "ref",
        "pytorch:int8": "sig-down",
        "onnxruntime:fp32": "ns",
        "onnxruntime:int8": "ns",
        "openvino:int8": "ns",
    }


def test_a_new_column_is_one_entry() -> None:
    load = Column(
        "Load s",
        "seconds to load the artifact",
        lambda v, _: Cell(f"{v.timings.load_seconds:.2f}") if v.timings else Cell("–"),
        lambda v, _: "slow" if v.timings and v.timings.load_seconds > 1 else "",
    )
    columns.COLUMNS.append(load)
    try:
        results = make_report_results()
        slow = results.variant("openvino:int8")
        assert slow is not None and slow.timings is not None
        slow.timings.load_seconds = 2.5
        text = render_markdown(results)
        assert "| Build s | Load s |" in text and "**Load s** seconds to load the artifact" in text
        assert "| 3.5 | 0.40 |" in text and "| 3.5 | 2.50 |" in text
        html = _html_table(render_html(results))
        assert html.header[-1] == "Load s"
        ok = {
            row[0]["text"].removesuffix("◆").strip(): row[-1] for row in html.rows if len(row) > 3
        }
        assert set(ok) == {spec[0] for spec in OK_VARIANTS}
        assert ok["openvino:int8"]["text"] == "2.50" and ok["openvino:int8"]["class"] == "slow"
        assert ok["pytorch:fp32"]["text"] == "0.40" and ok["pytorch:fp32"]["class"] == ""
        reasons = [row[-1] for row in html.rows if len(row) == 3]  # failed and unavailable rows
        assert len(reasons) == 2 and {r["colspan"] for r in reasons} == {str(len(COLUMNS) - 2)}
    finally:
        columns.COLUMNS.remove(load)
