"""The words and numbers of a matrix, shared by its Markdown and HTML renderings so both read
the same: cell texts, the best-variant lines, the rank-change lines."""

from __future__ import annotations

from quantarena.matrix.model import Cell, CrossPlatform, Matrix

DASH = "–"
#: the measured columns of each platform group: (title, help)
COLUMNS = [
    ("Δ top-1 pp", "top-1 change vs the run's FP32 reference, 95% paired-bootstrap CI"),
    ("p50 ms", "batch-1 median latency; (#n): its speed rank on that platform"),
    ("img/s", "throughput at the largest measured batch"),
    ("size MB", "artifact size on disk"),
    ("peak MB", "measuring worker's peak resident memory"),
]


def pp(value: float) -> str:
    return "±0.00" if abs(value) < 0.005 else f"{value:+.2f}"


def delta_text(cell: Cell) -> tuple[str, str]:
    """(value, qualifier): the Δ and its CI, ``n.s.`` when within noise."""
    if cell.delta_pp is None:
        return DASH, ""
    if len(cell.delta_ci95_pp) != 2:
        return pp(cell.delta_pp), "ref" if cell.delta_significant is None else ""
    lo, hi = cell.delta_ci95_pp
    return pp(cell.delta_pp), f"[{lo:+.1f}, {hi:+.1f}]" + ("" if cell.delta_significant
                                                           else " n.s.")


def measure_texts(cell: Cell) -> list[str]:
    """The four numbers after Δ: p50 (rank), img/s @batch, size, peak memory."""
    p50 = DASH if cell.p50_ms is None else f"{cell.p50_ms:.2f} (#{cell.speed_rank})"
    rate = (DASH if cell.images_per_s is None
            else f"{cell.images_per_s:.1f} @{cell.throughput_batch}")
    size = DASH if cell.size_mb is None else f"{cell.size_mb:.2f}"
    peak = DASH if cell.peak_rss_mb is None else f"{cell.peak_rss_mb:.0f}"
    return [p50, rate, size, peak]


def short_keys(matrix: Matrix) -> dict[str, str]:
    """P1, P2 ...: column titles stay narrow; the legend names each platform in full."""
    return {p.key: f"P{i}" for i, p in enumerate(matrix.platforms, start=1)}


def best_lines(matrix: Matrix) -> list[str]:
    short = short_keys(matrix)
    lines = []
    for p in matrix.platforms:
        name = matrix.best.get(p.key)
        if name is None:
            lines.append(f"{short[p.key]}: no variant within {matrix.max_drop_pp:g} pp was timed")
            continue
        row = next(r for r in matrix.rows if r.variant == name)
        cell = row.cells[p.key]
        lines.append(f"{short[p.key]}: `{name}` (p50 {cell.p50_ms:.2f} ms, "
                     f"Δ top-1 {pp(cell.delta_pp or 0.0)} pp)")
    return lines


def leader_lines(matrix: Matrix) -> list[tuple[bool, str]]:
    """(changes, line) per criterion: whether the platform changed the leader, and the line."""
    short = short_keys(matrix)
    lines = []
    for leaders in matrix.leaders:
        shown = "; ".join(f"{short[k]} {', '.join(f'`{n}`' for n in names) or DASH}"
                          for k, names in leaders.by_platform.items())
        verdict = "differs between platforms" if leaders.changes else "same on every platform"
        lines.append((leaders.changes, f"{leaders.criterion.capitalize()}: {verdict} ({shown})"))
    return lines


def cross_cells(entry: CrossPlatform) -> list[str]:
    """Δ, CI, McNemar p, gained/lost, agreement and the verdict of one cross-platform pair."""
    c = entry.comparison
    if c is None:
        return [DASH, DASH, DASH, DASH, DASH, entry.reason or DASH]
    lo, hi = c.ci95_pp
    agree = DASH if entry.agreement_top1 is None else f"{entry.agreement_top1 * 100:.1f}%"
    verdict = "significant" if c.significant else "within noise"
    return [pp(c.delta_pp), f"[{lo:+.2f}, {hi:+.2f}]", f"{c.mcnemar_p:.3g}",
            f"{c.gained} / {c.lost}", agree, verdict]


CROSS_HEADER = ["Variant", "Platforms", "Δ top-1 pp (second − first)", "95% CI",
                "McNemar p", "gained / lost", "same top-1", "verdict"]
