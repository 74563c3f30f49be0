"""``report.html``: one self-contained page (plotly.js and the stylesheet inlined; no network)
with the headline table, interactive charts and full disclosure of recipes, data, model and
machine. plotly is imported only when writing; without it the page has no charts."""

from __future__ import annotations

from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path

from quantarena.report import gpu as gpu_report
from quantarena.report.charts import frontier_names, report_charts
from quantarena.report.html_blocks import cards, e, findings, headline_table, recipes
from quantarena.report.html_panels import dataset_panel, environment_panel, model_panel, run_panel
from quantarena.report.serving import html_section
from quantarena.results.schema import Results

HTML_FILE = "report.html"


def stylesheet() -> str:
    """The page's CSS, shipped as package data (``report/assets/report.css``)."""
    return files("quantarena.report").joinpath("assets", "report.css").read_text(encoding="utf-8")


def _charts(results: Results) -> tuple[str, str]:
    """(the script tag with plotly.js, the charts' HTML)."""
    if find_spec("plotly") is None:
        return "", '<p class="note">Charts need plotly: pip install "quantarena[report]".</p>'
    from plotly.offline import get_plotlyjs

    from quantarena.report.charts_plotly import chart_html

    parts = [f'<div class="chart">{chart_html(c)}<p class="note">{e(c.caption)}</p></div>'
             for c in report_charts(results)]
    body = ('<div class="grid">' + "".join(parts) + "</div>" if parts
            else '<p class="note">No charts: no variant was timed or measured.</p>')
    return f'<script type="text/javascript">{get_plotlyjs()}</script>', body


def _warnings(results: Results) -> str:
    texts = []
    if results.environment.load_warning:
        texts.append(f"Warning: {results.environment.load_warning}; numbers may be skewed.")
    texts += [f"Warning: {text}." for text in results.warnings]
    if not results.model.pretrained:
        texts.append("Random weights: accuracy is not meaningful and is not reported.")
    return "".join(f'<div class="warn">{e(t)}</div>' for t in texts)


def render_html(results: Results) -> str:
    """The full page as a string."""
    script, charts = _charts(results)
    m, d, env = results.model, results.dataset, results.environment
    title = f"quantarena: {m.name} ({m.weights})"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{stylesheet()}</style>
{script}
</head><body><main>
<header><h1>{e(title)}</h1>
<p>{e(d.eval_images)} evaluation and {e(d.calibration_images)} calibration images of
<code>{e(d.name)}</code> (disjoint, seed {e(d.seed)}); reference
<code>{e(results.reference or "none")}</code>.</p>
<p>{e(env.cpu.model)}, {e(env.threads)} threads, {e(env.os)};
run started {e(results.started_at)}.</p>
<p>{e(env.int8_line())}.</p>
</header>
{_warnings(results)}{cards(results)}
<h2>Results</h2>
{headline_table(results, frontier_names(results))}
{findings(results)}
{html_section(results)}
{gpu_report.html_section(results)}
<h2>Charts</h2>
{charts}
<h2>Recipes</h2>
{recipes(results)}
<h2>Data, model and machine</h2>
<div class="grid">
<section class="panel"><h3>Dataset</h3>{dataset_panel(results)}</section>
<section class="panel"><h3>Model</h3>{model_panel(results)}</section>
<section class="panel"><h3>Environment</h3>{environment_panel(env)}</section>
<section class="panel"><h3>Run</h3>{run_panel(results)}</section>
</div>
<footer>Generated from results.json by {e(results.tool.name)} {e(results.tool.version)}.
Accuracy deltas are paired (same images): 95% bootstrap CI and exact McNemar test.</footer>
</main></body></html>
"""


def write_html(results: Results, run_dir: Path) -> Path:
    path = run_dir / HTML_FILE
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(results), encoding="utf-8")
    tmp.replace(path)
    return path
