"""``report.md``: the headline table, what was compared, and how (from results.json only)."""

from __future__ import annotations

from pathlib import Path

from quantarena.report.table import COLUMNS, markdown_table
from quantarena.results.schema import Results


def _environment_line(results: Results) -> str:
    env = results.environment
    cpu = env.get("cpu", {})
    isa = ", ".join(k for k, v in cpu.get("isa", {}).items() if v) or "none detected"
    return (
        f"{cpu.get('model', '?')} ({cpu.get('logical_cores', '?')} logical cores; ISA: {isa}), "
        f"{env.get('threads')} threads, {env.get('memory_gb')} GB, {env.get('os')}, Python {env.get('python')}"
    )


def render_markdown(results: Results, charts: list[tuple[str, str]] | None = None) -> str:
    """The page; ``charts`` are ``(title, path relative to the run folder)`` PNGs to embed."""
    m, d = results.model, results.dataset
    lines = [
        f"# quantarena: {m.name} ({m.weights})",
        "",
        f"Dataset `{d.name}`: {d.eval_images} evaluation images, {d.calibration_images} calibration "
        f"images (disjoint, seed {d.seed}). Reference: `{results.reference or 'none'}`.",
        f"Machine: {_environment_line(results)}.",
        "",
        markdown_table(results),
        "",
        "Columns: " + "; ".join(f"**{c.title}** {c.help}" for c in COLUMNS[2:]) + ".",
    ]
    unavailable: dict[tuple[str, str], list[str]] = {}
    for v in results.variants:
        for what, why in v.unavailable.items():
            unavailable.setdefault((what, why), []).append(v.name)
    if unavailable:
        lines += ["", "Not measured:", ""]
        for (what, why), names in unavailable.items():
            who = "every variant" if len(names) == len(results.variants) > 1 else ", ".join(f"`{n}`" for n in names)
            lines.append(f"- {what} of {who}: {why}")
    notes = [(v.name, n) for v in results.variants for n in v.notes]
    if notes:
        lines += ["", "Notes:", ""] + [f"- `{name}`: {note}" for name, note in notes]
    if charts:
        lines += ["", "## Charts"]
        for title, path in charts:
            lines += ["", f"![{title}]({path})"]
    lines += ["", "## Recipes", ""]
    for v in results.variants:
        knobs = ", ".join(f"{k}={val}" for k, val in v.recipe.items()) or "defaults"
        lines.append(f"- `{v.name}` ({v.precision}): {knobs}")
    warning = results.environment.get("load_before", {}).get("warning")
    if warning:
        lines += ["", f"> Warning: {warning}."]
    return "\n".join(lines) + "\n"


def _write_charts(results: Results, run_dir: Path) -> list[tuple[str, str]]:
    from importlib.util import find_spec

    if find_spec("matplotlib") is None:  # optional extra "report": the report is complete without charts
        return []
    from quantarena.report.charts_png import write_charts

    return [(title, png.relative_to(run_dir).as_posix()) for title, png in write_charts(results, run_dir)]


def write_markdown(results: Results, run_dir: Path) -> Path:
    path = run_dir / "report.md"
    path.write_text(render_markdown(results, _write_charts(results, run_dir)))
    return path
