"""``report.html`` of a tune folder: what ``tune.md`` says (final candidates with validation and
evaluation drops, each recipe's search, the Pareto set, the acceptance rule, per-layer
sensitivity rankings and the layers kept in FP32) as one self-contained page styled like a run's
report, its charts embedded, so it can be mailed or archived as one file.

Rendered from the Markdown with markdown-it (CommonMark plus tables), so the page and ``tune.md``
can never say different things."""

from __future__ import annotations

import base64
import re
from html import escape
from pathlib import Path

from quantarena.report.html import HTML_FILE, stylesheet

_LOCAL_PNG = re.compile(r'src="([^"/\\]+\.png)"')
#: the final table has many columns: it scrolls inside the page rather than widening it
_WIDE_TABLES = "main.tune table{display:block;overflow-x:auto;max-width:100%}"


def _embedded(match: re.Match[str], folder: Path) -> str:
    """A chart beside ``tune.md`` as a data URI; any other reference is left as written."""
    path = folder / match.group(1)
    if not path.is_file():
        return match.group(0)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'src="data:image/png;base64,{data}"'


def render_html(markdown: str, folder: Path, title: str = "quantarena tune") -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    body = _LOCAL_PNG.sub(lambda m: _embedded(m, folder), body)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{stylesheet()}{_WIDE_TABLES}</style></head>\n"
            f'<body><main class="tune">\n{body}</main></body></html>\n')


def write_html(markdown: str, folder: Path) -> Path:
    path = folder / HTML_FILE
    path.write_text(render_html(markdown, folder), encoding="utf-8")
    return path
