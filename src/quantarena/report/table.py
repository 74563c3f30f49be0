"""The headline table as plain text: the terminal and ``report.md`` print this Markdown table
(``report.html`` renders the same ``columns.COLUMNS`` as HTML)."""

from __future__ import annotations

from quantarena.report.columns import COLUMNS, Cell, measure_columns, table_cells
from quantarena.results.schema import Results


def _md(cell: Cell) -> str:
    """A cell as Markdown text: a ``|`` would end the cell, so it becomes ``/``."""
    return cell.plain.replace("|", "/")


def table_rows(results: Results) -> list[list[str]]:
    """Every row's cells as plain text, in ``COLUMNS`` order."""
    return [[_md(cell) for cell in row] for row in table_cells(results)]


def markdown_table(results: Results) -> str:
    header = [c.title for c in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(results)]
    return "\n".join(lines)


def legend() -> str:
    """What each measured column means, for the line under the Markdown table."""
    return "Columns: " + "; ".join(f"**{c.title}** {c.help}" for c in measure_columns()) + "."
