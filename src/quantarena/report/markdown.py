"""``report.md``: the headline table, what was compared, and how (from results.json only)."""

from __future__ import annotations

from pathlib import Path

from quantarena.report import gpu as gpu_report
from quantarena.report.findings import notes, rounds_lines, unmeasured
from quantarena.report.serving import markdown_section
from quantarena.report.table import legend, markdown_table
from quantarena.results.schema import Results


def _findings(results: Results) -> list[str]:
    lines: list[str] = []
    missing = unmeasured(results)
    if missing:
        lines += ["", "Not measured:", ""]
        for m in missing:
            who = "every measured variant" if m.every_measured else ", ".join(
                f"`{n}`" for n in m.variants)
            lines.append(f"- {m.what} of {who}: {m.why}")
    found = notes(results)
    if found:
        lines += ["", "Notes:", ""] + [f"- `{n.variant}`: {n.text}" for n in found]
    rounds = rounds_lines(results)
    if rounds:
        lines += ["", "Interleaved rounds:", ""] + [f"- {line}" for line in rounds]
    return lines


def _incomplete(results: Results) -> list[str]:
    """An interrupted run says so above everything else: its table is not the whole comparison."""
    missing = [v.name for v in results.variants if v.status == "not_run"]
    if not missing:
        return []
    return [
        f"> Incomplete run: {len(missing)} of {len(results.variants)} variants not measured "
        f"(`not_run`). `quantarena run --resume --out {results.config.get('out', 'DIR')}` with the "
        "same settings measures them.",
        "",
    ]


def render_markdown(results: Results, charts: list[tuple[str, str]] | None = None) -> str:
    """The page; ``charts`` are ``(title, path relative to the run folder)`` PNGs to embed."""
    m, d = results.model, results.dataset
    lines = [
        f"# quantarena: {m.name} ({m.weights})",
        "",
        f"Dataset `{d.name}`: {d.eval_images} evaluation images, {d.calibration_images} "
        f"calibration images (disjoint, seed {d.seed}). "
        f"Reference: `{results.reference or 'none'}`.",
        f"Machine: {results.environment.summary()}.",
        f"{results.environment.int8_line()}.",
        "",
        markdown_table(results),
        "",
        *_incomplete(results),
        legend(),
        *_findings(results),
        *markdown_section(results),
        *gpu_report.markdown_section(results),
    ]
    if charts:
        lines += ["", "## Charts"]
        for title, path in charts:
            lines += ["", f"![{title}]({path})"]
    lines += ["", "## Recipes", ""]
    for v in results.variants:
        knobs = ", ".join(f"{k}={val}" for k, val in v.recipe.items()) or "defaults"
        lines.append(f"- `{v.name}` ({v.precision}): {knobs}")
    warning = results.environment.load_warning
    if warning:
        lines += ["", f"> Warning: {warning}."]
    lines += [f"> Warning: {text}." for text in results.warnings]
    return "\n".join(lines) + "\n"


def _write_charts(results: Results, run_dir: Path) -> list[tuple[str, str]]:
    from importlib.util import find_spec

    if find_spec("matplotlib") is None:  # optional extra "report": complete without charts
        return []
    from quantarena.report.charts_png import write_charts

    return [(label, png.relative_to(run_dir).as_posix())
            for label, png in write_charts(results, run_dir)]


def write_markdown(results: Results, run_dir: Path) -> Path:
    path = run_dir / "report.md"
    path.write_text(render_markdown(results, _write_charts(results, run_dir)))
    return path
