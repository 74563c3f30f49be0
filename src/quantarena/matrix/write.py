"""Write a matrix's three files into one folder: ``matrix.json`` (the data), ``matrix.md`` and
the self-contained ``matrix.html``."""

from __future__ import annotations

from pathlib import Path

from quantarena.matrix.build import DEFAULT_MAX_DROP_PP, build_matrix
from quantarena.matrix.html import render_html
from quantarena.matrix.markdown import render_markdown
from quantarena.matrix.model import Matrix
from quantarena.matrix.runs import load_runs

FILES = ("matrix.json", "matrix.md", "matrix.html")


def write_matrix(matrix: Matrix, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    texts = (matrix.model_dump_json(indent=2), render_markdown(matrix), render_html(matrix))
    paths = []
    for name, text in zip(FILES, texts, strict=True):
        path = out / name
        path.write_text(text)
        paths.append(path)
    return paths


def merge_runs(
    run_dirs: list[Path], out: Path, max_drop_pp: float = DEFAULT_MAX_DROP_PP
) -> Matrix:
    """Load, check and merge ``run_dirs`` into a matrix written to ``out``."""
    runs, warnings = load_runs(run_dirs)
    matrix = build_matrix(runs, warnings, max_drop_pp)
    write_matrix(matrix, out)
    return matrix
