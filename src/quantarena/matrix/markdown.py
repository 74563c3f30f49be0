"""``matrix.md``: the matrix as Markdown (platform groups as P1, P2 ... with a legend)."""

from __future__ import annotations

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


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def _matrix_rows(matrix: Matrix) -> list[list[str]]:
    rows = []
    for row in matrix.rows:
        name = f"`{row.variant}`" + (" ⇅" if row.rank_changes else "")
        cells = [name]
        for p in matrix.platforms:
            cell = row.cells[p.key]
            if cell.status != "ok":
                cells += [cell.status, *(["–"] * (len(COLUMNS) - 1))]
                continue
            value, qualifier = delta_text(cell)
            delta = f"**{value}** {qualifier}" if cell.delta_significant else f"{value} {qualifier}"
            cells += [delta.strip(), *measure_texts(cell)]
        rows.append(cells)
    return rows


def render_markdown(matrix: Matrix) -> str:
    short = short_keys(matrix)
    lines = [f"# quantarena matrix: {matrix.model} ({matrix.weights}), {matrix.eval_images} "
             f"evaluation images of {matrix.dataset}", "", "Platforms:", ""]
    lines += [f"- **{short[p.key]}**: {p.key} (run `{p.run}`, started {p.started_at})"
              for p in matrix.platforms]
    lines += ["", f"## Best variant per platform (fastest p50 within {matrix.max_drop_pp:g} pp "
              "of FP32 top-1)", ""]
    lines += [f"- {line}" for line in best_lines(matrix)]
    lines += ["", "## Where the platform changes the answer", ""]
    lines += [f"- {'**' + line + '**' if changes else line}"
              for changes, line in leader_lines(matrix)]
    significant = matrix.significant_differences()
    for entry in significant:
        assert entry.comparison is not None
        c = entry.comparison
        lines.append(f"- **`{entry.variant}` top-1 differs between {short[entry.a]} and "
                     f"{short[entry.b]}: {c.delta_pp:+.2f} pp ({short[entry.b]} − {short[entry.a]}"
                     f"), 95% CI [{c.ci95_pp[0]:+.2f}, {c.ci95_pp[1]:+.2f}], McNemar p = "
                     f"{c.mcnemar_p:.3g}**")
    if not significant:
        lines.append("- No variant's top-1 differs between platforms beyond noise.")
    header = ["Variant"] + [f"{short[p.key]} {title}" for p in matrix.platforms
                            for title, _ in COLUMNS]
    lines += ["", "## Matrix", "", *_table(header, _matrix_rows(matrix)), ""]
    lines += ["Δ top-1 is against each run's own FP32 reference (bold: significant). "
              "(#n) is the variant's batch-1 speed rank on that platform; ⇅ marks a variant "
              "whose rank differs between platforms.", ""]
    lines += ["## Accuracy across platforms, image by image", ""]
    cross = [[f"`{e.variant}`", f"{short[e.a]} → {short[e.b]}", *cross_cells(e)]
             for e in matrix.cross_platform]
    lines += [*_table(CROSS_HEADER, cross), ""]
    lines += ["The same variant on two platforms, on the same images: exact McNemar test and "
              "paired-bootstrap 95% CI; significant means p < 0.05 and the CI excludes 0.", ""]
    if matrix.warnings:
        lines += ["## Notes", "", *(f"- {w}" for w in matrix.warnings), ""]
    return "\n".join(lines)
