"""The HTML pieces of ``report.html`` that show results: the headline table (from
``columns.COLUMNS``), the summary cards, what was not measured, and every recipe knob."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from quantarena.report.columns import COLUMNS, Cell, Column, measure_columns, table_cells
from quantarena.report.findings import notes, rounds_lines, unmeasured
from quantarena.results.schema import Results, VariantResult

FRONT_MARK = '<span class="front" title="on the accuracy/latency Pareto frontier">◆</span>'


def e(value: object) -> str:
    return escape(str(value))


class Code(str):
    """A value shown in monospace (hashes, paths)."""


def value_html(value: Any) -> str:
    if isinstance(value, Code):
        return f"<code>{e(value)}</code>"
    if isinstance(value, float):
        return e(format(value, ".6g"))
    if isinstance(value, dict | list):
        return f"<code>{e(json.dumps(value, sort_keys=True, default=str))}</code>"
    return e("none" if value is None else value)


def kv(pairs: Sequence[tuple[str, Any]]) -> str:
    items = "".join(f"<dt>{e(k)}</dt><dd>{value_html(v)}</dd>" for k, v in pairs)
    return f'<dl class="kv">{items}</dl>'


def cell_html(cell: Cell) -> str:
    """The main text, then its CI or qualifier set smaller."""
    return e(cell.text) + (f' <span class="ci">{e(cell.ci)}</span>' if cell.ci else "")


def _td(column: Column, cell: Cell, v: VariantResult, results: Results, front: bool) -> str:
    if column.kind == "name":
        return f"<td><code>{e(cell.text)}</code>{' ' + FRONT_MARK if front else ''}</td>"
    if column.kind == "status":
        return f'<td class="l"><span class="pill {e(v.status)}">{e(v.status)}</span></td>'
    css = column.style(v, results) if column.style else ""
    return f'<td class="{css}">{cell_html(cell)}</td>' if css else f"<td>{cell_html(cell)}</td>"


def headline_table(results: Results, frontier: Sequence[str]) -> str:
    """The table; on a row that did not run, the measured columns become one cell with why."""
    head = "".join(f'<th title="{e(c.help)}">{e(c.title)}</th>' for c in COLUMNS)
    body = []
    for v, cells in zip(results.variants, table_cells(results), strict=True):
        front = v.name in frontier
        tds = [_td(c, cell, v, results, front) for c, cell in zip(COLUMNS, cells, strict=True)
               if v.status == "ok" or c.kind != "measure"]
        if v.status != "ok":
            tds.append(f'<td class="reason" colspan="{len(measure_columns())}">'
                       f'{e(v.reason or "no reason recorded")}</td>')
        body.append(f'<tr class="{e(v.status)}">{"".join(tds)}</tr>')
    legend = "; ".join(f"<b>{e(c.title)}</b> {e(c.help)}" for c in measure_columns())
    marker = f"{FRONT_MARK} on the accuracy/latency Pareto frontier. " if frontier else ""
    return (f'<div class="scroll"><table id="headline"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>'
            f'<p class="legend">{marker}{legend}.</p>')


def cards(results: Results) -> str:
    """The few numbers a reader looks for first."""
    ok = [v for v in results.variants if v.status == "ok"]
    found: list[tuple[str, str, str]] = []
    ref = results.variant(results.reference) if results.reference else None
    if ref and ref.accuracy:
        found.append(("Reference top-1", f"{ref.accuracy.top1 * 100:.2f}%",
                      f"{ref.name}, {ref.accuracy.images} images"))
    timed = [(lat.p50, v.name) for v in ok if (lat := v.latency_ms)]
    if timed:
        p50, name = min(timed)
        found.append(("Fastest p50 (batch 1)", f"{p50:.2f} ms", name))
    rates = [(v.throughput[-1].images_per_s, v.throughput[-1].batch, v.name) for v in ok
             if v.throughput]
    if rates:
        rate, batch, name = max(rates)
        found.append(("Highest throughput", f"{rate:.0f} img/s", f"{name} @ batch {batch}"))
    sizes = [(art.size_mb, v.name) for v in ok if (art := v.artifact)]
    if sizes:
        size, name = min(sizes)
        found.append(("Smallest artifact", f"{size:.2f} MB", name))
    counts = {s: sum(v.status == s for v in results.variants)
              for s in ("ok", "failed", "unavailable", "not_run")}
    found.append(("Variants", str(len(results.variants)),
                  ", ".join(f"{n} {s}" for s, n in counts.items() if n)))
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{e(k)}</div><div class="v">{e(v)}</div>'
        f'<div class="s">{e(s)}</div></div>' for k, v, s in found) + "</div>"


def findings(results: Results) -> str:
    parts = []
    missing = unmeasured(results)
    if missing:
        items = []
        for m in missing:
            who = "every measured variant" if m.every_measured else ", ".join(
                f"<code>{e(n)}</code>" for n in m.variants)
            items.append(f"<li><b>{e(m.what)}</b> ({who}): {e(m.why)}</li>")
        parts.append("<h3>Not measured</h3><ul>" + "".join(items) + "</ul>")
    found = notes(results)
    if found:
        parts.append("<h3>Notes</h3><ul>" + "".join(
            f"<li><code>{e(n.variant)}</code>: {e(n.text)}</li>" for n in found) + "</ul>")
    rounds = rounds_lines(results)
    if rounds:
        parts.append("<h3>Interleaved rounds</h3><ul>"
                     + "".join(f"<li>{e(line)}</li>" for line in rounds) + "</ul>")
    return "".join(parts)


def _knobs(values: dict[str, Any]) -> str:
    return "".join(f'<span class="knob mono">{e(k)}={value_html(v)}</span>'
                   for k, v in values.items())


def recipes(results: Results) -> str:
    """Every knob asked for, what the build decided, and how each variant was run."""
    rows = []
    for v in results.variants:
        extra = []
        if v.build:
            extra.append(f"build {v.build.seconds:.1f} s, {v.build.calibration_images} "
                         "calibration images")
            if v.build.facts:
                extra.append("decided " + _knobs(v.build.facts))
        if v.artifact:
            extra.append(f"artifact <code>{e(v.artifact.path)}</code> "
                         f"({e(', '.join(v.artifact.files))})")
        if v.baseline:
            extra.append(f"baseline <code>{e(v.baseline)}</code>")
        if v.runtime:
            extra.append("runtime " + _knobs(v.runtime))
        rows.append(f'<tr><td class="name"><code>{e(v.name)}</code></td><td>{e(v.precision)}</td>'
                    f'<td>{_knobs(v.recipe) or "defaults"}</td><td>{"<br>".join(extra)}</td></tr>')
    return ('<div class="scroll"><table class="recipes"><thead><tr><th>Variant</th>'
            '<th>Precision</th><th>Recipe (every knob)</th><th>Build and runtime</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')
