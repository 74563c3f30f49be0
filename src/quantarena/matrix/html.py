"""``matrix.html``: one self-contained page (inline style, no scripts, no network) with real
column groups per platform and the highlights coloured."""

from __future__ import annotations

import re
from html import escape

from quantarena.matrix.model import Matrix
from quantarena.matrix.text import (
    COLUMNS,
    CROSS_HEADER,
    best_lines,
    cross_cells,
    delta_text,
    leader_lines,
    measure_texts,
    short_keys,
)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}
th.group{background:#eef}
small{color:#666}
.sig{background:#fdd;font-weight:bold}
.best{background:#dfd}
.change{color:#a40;font-weight:bold}
.status{color:#888;font-style:italic;text-align:center}
"""


def _code(line: str) -> str:
    """A shared text line as HTML: escaped, its `backticked` names set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(line))


def _matrix_table(matrix: Matrix) -> list[str]:
    short = short_keys(matrix)
    span = len(COLUMNS)
    out = ["<table>", "<tr><th rowspan=2>Variant</th>"
           + "".join(f"<th class=group colspan={span} title='{escape(p.key)}'>"
                     f"{short[p.key]}: {escape(p.key)}</th>" for p in matrix.platforms) + "</tr>",
           "<tr>" + "".join(f"<th title='{escape(help_)}'>{escape(title)}</th>"
                            for _ in matrix.platforms for title, help_ in COLUMNS) + "</tr>"]
    for row in matrix.rows:
        mark = " <span class=change title='speed rank differs between platforms'>⇅</span>"
        cells = [f"<td><code>{escape(row.variant)}</code>{mark if row.rank_changes else ''}</td>"]
        for p in matrix.platforms:
            cell = row.cells[p.key]
            if cell.status != "ok":
                cells.append(f"<td class=status colspan={span} title='{escape(cell.reason or '')}'>"
                             f"{escape(cell.status)}</td>")
                continue
            value, qualifier = delta_text(cell)
            css = " class=sig" if cell.delta_significant else ""
            cells.append(f"<td{css}>{escape(value)} <small>{escape(qualifier)}</small></td>")
            best = " class=best" if matrix.best.get(p.key) == row.variant else ""
            texts = measure_texts(cell)
            cells.append(f"<td{best}>{escape(texts[0])}</td>")
            cells += [f"<td>{escape(t)}</td>" for t in texts[1:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    return [*out, "</table>"]


def _cross_table(matrix: Matrix) -> list[str]:
    short = short_keys(matrix)
    out = ["<table>", "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in CROSS_HEADER) + "</tr>"]
    for e in matrix.cross_platform:
        significant = e.comparison is not None and e.comparison.significant
        css = " class=sig" if significant else ""
        cells = [f"<code>{escape(e.variant)}</code>", f"{short[e.a]} → {short[e.b]}",
                 *(escape(c) for c in cross_cells(e))]
        out.append(f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return [*out, "</table>"]


def render_html(matrix: Matrix) -> str:
    short = short_keys(matrix)
    title = f"quantarena matrix: {matrix.model} ({matrix.weights})"
    parts = [
        "<!doctype html><html><head><meta charset=utf-8>",
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{matrix.eval_images} evaluation images of {escape(matrix.dataset)}; "
        f"budget {matrix.max_drop_pp:g} pp of FP32 top-1.</p><ul>",
        *(f"<li><b>{short[p.key]}</b>: {escape(p.key)} <small>(run {escape(p.run)}, started "
          f"{escape(p.started_at)})</small></li>" for p in matrix.platforms),
        "</ul><h2>Best variant per platform</h2><ul>",
        *(f"<li class=best>{_code(line)}</li>" for line in best_lines(matrix)),
        "</ul><h2>Where the platform changes the answer</h2><ul>",
        *(f"<li{' class=change' if changes else ''}>{_code(line)}</li>"
          for changes, line in leader_lines(matrix)),
        *(f"<li class=sig>{escape(e.variant)}: top-1 differs between {short[e.a]} and "
          f"{short[e.b]} beyond noise</li>" for e in matrix.significant_differences()),
        "</ul><h2>Matrix</h2>",
        *_matrix_table(matrix),
        "<p><small>Δ top-1 vs each run's own FP32 reference, red: significant. Green: the "
        "platform's best variant. (#n): batch-1 speed rank; ⇅: the rank differs between "
        "platforms.</small></p><h2>Accuracy across platforms, image by image</h2>",
        *_cross_table(matrix),
    ]
    if matrix.warnings:
        parts += ["<h2>Notes</h2><ul>", *(f"<li>{escape(w)}</li>" for w in matrix.warnings),
                  "</ul>"]
    return "\n".join([*parts, "</body></html>"]) + "\n"
