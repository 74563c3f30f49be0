"""A titled report section holding one table with a note above it, in Markdown and in HTML: the
serving and GPU sections are both this shape, so they render it one way."""

from __future__ import annotations


def markdown_section(title: str, note: str, headers: list[str], rows: list[list[str]]) -> list[str]:
    """``report.md`` lines of the section; none when there are no rows."""
    if not rows:
        return []
    lines = ["", f"## {title}", "", note, "",
             "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def html_section(title: str, note: str, headers: list[str], rows: list[list[str]]) -> str:
    """``report.html``'s section; empty when there are no rows."""
    from quantarena.report.html_blocks import e

    if not rows:
        return ""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<h2>{e(title)}</h2><p class=\"note\">{e(note)}</p><table><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table>")
