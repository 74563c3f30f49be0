"""``report.html``: one self-contained page (plotly.js inlined; no network) with the headline
table, interactive charts (``figures``) and full disclosure of recipes, data, model and machine.
plotly is imported only when writing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from quantarena.report.chart_data import accuracy_missing_reason, chart_points, pareto_frontier
from quantarena.report.figures import (
    bar_fallback_figure,
    latency_figure,
    speedup_figure,
    tradeoff_figure,
)
from quantarena.report.table import COLUMNS, table_rows
from quantarena.results.schema import Results, VariantResult

HTML_FILE = "report.html"


# --------------------------------------------------------------------------- page


CSS = """
:root { --fg:#1d2330; --muted:#5d6675; --line:#e3e6eb; --bg:#f6f7f9; --card:#fff; --accent:#2f5d9b;
        --ok:#1f7a3d; --bad:#b3261e; --na:#6b6f76; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
       Helvetica,Arial,sans-serif; }
main { max-width:1280px; margin:0 auto; padding:24px 16px 48px; }
header h1 { font-size:22px; margin:0 0 4px; }
header p { margin:2px 0; color:var(--muted); }
h2 { font-size:17px; margin:32px 0 10px; padding-bottom:4px; border-bottom:1px solid var(--line); }
h3 { font-size:14px; margin:16px 0 6px; }
code, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(200px,1fr)); gap:12px; margin:18px 0 4px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .v { font-size:18px; font-weight:600; }
.card .s { color:var(--muted); font-size:12.5px; }
.warn { background:#fff6e0; border:1px solid #f0d48a; border-radius:8px; padding:8px 12px; margin:12px 0; }
.scroll { overflow-x:auto; background:var(--card); border:1px solid var(--line); border-radius:8px; }
table { border-collapse:collapse; width:100%; }
th, td { padding:6px 8px; text-align:right; white-space:nowrap; border-bottom:1px solid var(--line); }
#headline td { font-size:13px; font-variant-numeric:tabular-nums; }
th { background:#eef1f5; font-weight:600; font-size:12px; cursor:help; white-space:normal; vertical-align:bottom; }
.ci { color:var(--muted); font-size:11.5px; }
td:first-child, th:first-child { text-align:left; }
td.l, th.l { text-align:left; }
tbody tr:hover { background:#f3f6fb; }
tbody tr:last-child td { border-bottom:none; }
tr.failed td { background:#fdf1f0; } tr.unavailable td { background:#f5f5f5; color:var(--na); }
td.reason { text-align:left; white-space:normal; color:var(--muted); }
.pill { display:inline-block; padding:0 8px; border-radius:10px; font-size:12px; font-weight:600; }
.pill.ok { background:#e3f3e8; color:var(--ok); } .pill.failed { background:#fbe0de; color:var(--bad); }
.pill.unavailable { background:#eceef1; color:var(--na); }
.sig-down { color:var(--bad); font-weight:600; } .sig-up { color:var(--ok); font-weight:600; }
.ns { color:var(--muted); } .ref { color:var(--accent); font-weight:600; }
.front { color:var(--accent); font-weight:600; }
.legend { color:var(--muted); font-size:12.5px; margin:8px 2px; }
.grid { display:grid; grid-template-columns:repeat(2,minmax(0,1fr)); gap:16px; }
@media (max-width:1000px) { .grid { grid-template-columns:1fr; } }
.chart { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:6px; min-width:0; }
.chart.wide { grid-column:1 / -1; }
.note { color:var(--muted); font-size:12.5px; margin:4px 8px 6px; }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:3px 16px; margin:6px 0; }
dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; overflow-wrap:anywhere; }
.recipes td, .recipes th { text-align:left; vertical-align:top; white-space:normal; }
.recipes td.name { white-space:nowrap; font-weight:600; }
.recipes th:nth-child(3) { width:48%; } .recipes th:nth-child(4) { width:34%; }
.panel { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:4px 16px 10px; min-width:0; }
.panel h3 { font-size:15px; margin:10px 0 6px; }
.knob { display:inline-block; margin:1px 6px 1px 0; padding:0 6px; background:#f0f2f6; border-radius:4px; }
.panel td { padding:3px 8px; }
.chips span { display:inline-block; margin:1px 4px 1px 0; padding:0 6px; border-radius:4px; font-size:12px; }
.chips .on { background:#e3f3e8; color:var(--ok); } .chips .off { background:#eceef1; color:var(--na);
  text-decoration:line-through; }
details { margin:6px 0; } summary { cursor:pointer; color:var(--accent); }
pre { background:#f0f2f6; padding:10px; border-radius:6px; overflow:auto; font-size:12px; }
footer { color:var(--muted); font-size:12px; margin-top:36px; }
"""


def _e(value: Any) -> str:
    return escape(str(value))


class _Code(str):
    """A value shown in monospace (hashes, paths)."""


def _value(value: Any) -> str:
    if isinstance(value, _Code):
        return f"<code>{_e(value)}</code>"
    if isinstance(value, float):
        return _e(format(value, ".6g"))
    if isinstance(value, dict | list):
        return f"<code>{_e(json.dumps(value, sort_keys=True, default=str))}</code>"
    return _e("none" if value is None else value)


def _kv(pairs: Sequence[tuple[str, Any]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{_e(k)}</dt><dd>{_value(v)}</dd>" for k, v in pairs) + "</dl>"


def _delta_class(v: VariantResult, reference: str | None) -> str:
    if v.name == reference:
        return "ref" if v.accuracy is not None else ""
    comparison = (v.accuracy.vs_reference if v.accuracy else None) or {}
    if "significant" not in comparison:
        return ""
    if not comparison["significant"]:
        return "ns"
    return "sig-down" if comparison.get("delta_pp", 0.0) < 0 else "sig-up"


def _table(results: Results) -> str:
    frontier = set(_frontier_names(results))
    head = "".join(f'<th title="{_e(c.help)}">{_e(c.title)}</th>' for c in COLUMNS)
    body = []
    for v, cells in zip(results.variants, table_rows(results)):
        name = f"<code>{_e(v.name)}</code>" + (' <span class="front" title="on the accuracy/latency Pareto frontier">◆</span>'
                                             if v.name in frontier else "")
        status = f'<span class="pill {v.status}">{v.status}</span>'
        if v.status != "ok":
            body.append(f'<tr class="{v.status}"><td>{name}</td><td class="l">{status}</td>'
                        f'<td class="reason" colspan="{len(COLUMNS) - 2}">{_e(v.reason or "no reason recorded")}</td></tr>')
            continue
        tds = [f"<td>{name}</td>", f'<td class="l">{status}</td>']
        for index, cell in enumerate(cells[2:], start=2):
            css = _delta_class(v, results.reference) if index == 3 else ""
            tds.append(f'<td class="{css}">{_cell(cell)}</td>' if css else f"<td>{_cell(cell)}</td>")
        body.append('<tr class="ok">' + "".join(tds) + "</tr>")
    legend = "; ".join(f"<b>{_e(c.title)}</b> {_e(c.help)}" for c in COLUMNS[2:])
    marker = '<span class="front">◆</span> on the accuracy/latency Pareto frontier. ' if frontier else ""
    return (f'<div class="scroll"><table id="headline"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
            f'</tbody></table></div><p class="legend">{marker}{legend}.</p>')


def _cell(text: str) -> str:
    """A table cell with its confidence interval ``[lo, hi]`` (and ``n.s.``) set smaller."""
    value, sep, rest = text.partition(" [")
    return _e(value) + (f' <span class="ci">[{_e(rest)}</span>' if sep else "")


def _frontier_names(results: Results) -> list[str]:
    points = [p for p in chart_points(results) if p.top1_pct is not None and p.p50_ms is not None]
    return pareto_frontier([(p.name, p.p50_ms, p.top1_pct) for p in points])  # type: ignore[misc]


def _cards(results: Results) -> str:
    ok = [v for v in results.variants if v.status == "ok"]
    cards = []
    ref = results.variant(results.reference) if results.reference else None
    if ref and ref.accuracy:
        cards.append(("Reference top-1", f"{ref.accuracy.top1 * 100:.2f}%", f"{ref.name}, {ref.accuracy.images} images"))
    timed = [v for v in ok if v.latency_ms]
    if timed:
        fast = min(timed, key=lambda v: v.latency_ms.p50)  # type: ignore[union-attr]
        cards.append(("Fastest p50 (batch 1)", f"{fast.latency_ms.p50:.2f} ms", fast.name))  # type: ignore[union-attr]
    with_thr = [v for v in ok if v.throughput]
    if with_thr:
        best = max(with_thr, key=lambda v: v.throughput[-1].images_per_s)
        t = best.throughput[-1]
        cards.append(("Highest throughput", f"{t.images_per_s:.0f} img/s", f"{best.name} @ batch {t.batch}"))
    sized = [v for v in ok if v.artifact]
    if sized:
        small = min(sized, key=lambda v: v.artifact.size_mb)  # type: ignore[union-attr]
        cards.append(("Smallest artifact", f"{small.artifact.size_mb:.2f} MB", small.name))  # type: ignore[union-attr]
    counts = {s: sum(v.status == s for v in results.variants) for s in ("ok", "failed", "unavailable")}
    cards.append(("Variants", str(len(results.variants)), ", ".join(f"{n} {s}" for s, n in counts.items() if n)))
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div><div class="s">{_e(s)}</div></div>'
        for k, v, s in cards) + "</div>"


def _charts(results: Results) -> str:
    config = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
    missing = accuracy_missing_reason(results)
    specs: list[tuple[str, Any, str, bool]] = []
    if missing is None:
        frontier = _frontier_names(results)
        specs.append(("chart-frontier", tradeoff_figure(results, "p50_ms"),
                      "Outlined points and the dotted line form the Pareto frontier (no other variant is both "
                      f"faster and more accurate): {', '.join(frontier) or 'none'}. Error bars: 95% CI of the p50.", False))
        specs.append(("chart-size", tradeoff_figure(results, "size_mb"), "Artifact size on disk vs top-1.", False))
    else:
        note = f"Accuracy is unavailable ({missing}), so latency and size are shown alone."
        specs.append(("chart-frontier", bar_fallback_figure(results, "p50_ms"), note, False))
        specs.append(("chart-size", bar_fallback_figure(results, "size_mb"), note, False))
    specs.append(("chart-latency", latency_figure(results),
                  "Every timed batch-1 call after warm-up: box p25–p75, line p50, dashed line mean, whiskers "
                  "min–max.",
                  False))
    specs.append(("chart-speedup", speedup_figure(results),
                  "Each variant vs the FP32 variant of the same toolchain, and vs the run's reference.", False))
    parts = []
    for div_id, fig, note, wide in specs:
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=config)
        parts.append(f'<div class="chart{" wide" if wide else ""}">{div}<p class="note">{_e(note)}</p></div>')
    return '<div class="grid">' + "".join(parts) + "</div>"


def _recipes(results: Results) -> str:
    rows = []
    for v in results.variants:
        knobs = "".join(f'<span class="knob mono">{_e(k)}={_value(val)}</span>' for k, val in v.recipe.items())
        extra = []
        if v.build:
            extra.append(f"build {v.build.seconds:.1f} s, {v.build.calibration_images} calibration images")
        if v.artifact:
            extra.append(f"artifact <code>{_e(v.artifact.path)}</code> ({_e(', '.join(v.artifact.files))})")
        if v.runtime:
            extra.append("runtime " + "".join(f'<span class="knob mono">{_e(k)}={_value(val)}</span>'
                                              for k, val in v.runtime.items()))
        rows.append(f'<tr><td class="name"><code>{_e(v.name)}</code></td><td>{_e(v.precision)}</td>'
                    f'<td>{knobs or "defaults"}</td><td>{"<br>".join(extra)}</td></tr>')
    return ('<div class="scroll"><table class="recipes"><thead><tr><th>Variant</th><th>Precision</th>'
            f'<th>Recipe (every knob)</th><th>Build and runtime</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _findings(results: Results) -> str:
    parts = []
    unmeasured = [(v.name, k, why) for v in results.variants for k, why in v.unavailable.items()]
    energy = [(v.name, "energy", v.energy["unavailable"]) for v in results.variants
              if v.energy and v.energy.get("unavailable") and "energy" not in v.unavailable]
    grouped: dict[tuple[str, str], list[str]] = {}
    for name, what, why in unmeasured + energy:
        grouped.setdefault((what, why), []).append(name)
    if grouped:
        items = []
        for (what, why), names in grouped.items():
            who = "every measured variant" if len(names) > 1 and len(names) == sum(
                v.status == "ok" for v in results.variants) else ", ".join(f"<code>{_e(n)}</code>" for n in names)
            items.append(f"<li><b>{_e(what)}</b> ({who}): {_e(why)}</li>")
        parts.append("<h3>Not measured</h3><ul>" + "".join(items) + "</ul>")
    notes = [(v.name, n) for v in results.variants for n in v.notes]
    if notes:
        parts.append("<h3>Notes</h3><ul>" + "".join(f"<li><code>{_e(n)}</code>: {_e(t)}</li>" for n, t in notes) + "</ul>")
    return "".join(parts)


def _load_text(load: dict[str, Any]) -> str:
    if not load:
        return "not recorded"
    text = f"CPU {load.get('cpu_percent', 0):.0f}%, load average {load.get('loadavg_1m', 0):.1f} (1 min)"
    return text + (" — busy" if load.get("warning") else "")


def _environment(results: Results) -> str:
    env = results.environment
    cpu = env.get("cpu", {})
    isa = "".join(f'<span class="{"on" if on else "off"}">{_e(flag)}</span>' for flag, on in cpu.get("isa", {}).items())
    gpus = env.get("gpu") or []
    pairs: list[tuple[str, Any]] = [
        ("CPU", cpu.get("model")), ("architecture", cpu.get("arch")),
        ("cores", f"{cpu.get('physical_cores')} physical, {cpu.get('logical_cores')} logical"),
        ("threads", env.get("threads")), ("CPU pinning", env.get("pin_cpus") or "none"),
        ("memory", f"{env.get('memory_gb')} GB"), ("OS", env.get("os")), ("Python", env.get("python")),
        ("quantarena", env.get("quantarena")),
        ("GPU", "; ".join(f"{g.get('name')} (driver {g.get('driver')}, {g.get('memory')})" for g in gpus) or "none"),
        ("load before measuring", _load_text(env.get("load_before") or {})),
    ]
    packages = "".join(f"<tr><td><code>{_e(k)}</code></td><td class='l'>{_e(v or 'not installed')}</td></tr>"
                       for k, v in (env.get("packages") or {}).items())
    known = {"cpu", "threads", "pin_cpus", "memory_gb", "os", "python", "quantarena", "packages", "gpu", "load_before"}
    pairs += [(k, v) for k, v in env.items() if k not in known]
    return (_kv(pairs) + f'<div class="chips"><b>ISA flags</b> {isa or "none recorded"}</div>'
            f'<h3>Packages</h3><div class="scroll"><table><tbody>{packages}</tbody></table></div>')


def render_html(results: Results) -> str:
    """The full page as a string (plotly.js inlined once; without plotly, the page has no charts)."""
    from importlib.util import find_spec

    if find_spec("plotly") is not None:
        from plotly.offline import get_plotlyjs

        script, charts = f'<script type="text/javascript">{get_plotlyjs()}</script>', _charts(results)
    else:
        script, charts = "", '<p class="note">Charts need plotly: pip install "quantarena[report]".</p>'
    m, d = results.model, results.dataset
    cpu = results.environment.get("cpu", {})
    warning = (results.environment.get("load_before") or {}).get("warning")
    warn = f'<div class="warn">Warning: {_e(warning)}; numbers may be skewed.</div>' if warning else ""
    if not m.pretrained:
        warn += '<div class="warn">Random weights: accuracy is not meaningful and is not reported.</div>'
    dataset = _kv([
        ("name", d.name), ("root", _Code(d.root)), ("layout", d.layout), ("evaluation images", d.eval_images),
        ("calibration images", d.calibration_images), ("split seed", d.seed),
        ("evaluation list SHA-256", _Code(d.eval_list_sha256)),
        ("calibration list SHA-256", _Code(d.calibration_list_sha256)),
        ("skipped images", len(d.skipped_images)),
        *(d.model_extra or {}).items(),
    ])
    model = _kv([
        ("name", m.name), ("source", m.source), ("weights", m.weights), ("pretrained", m.pretrained),
        ("input shape", "×".join(str(s) for s in m.input_shape)), ("preprocessing", m.preprocessing),
        *[("note", n) for n in m.notes],
    ])
    run = _kv([
        ("started", results.started_at), ("finished", results.finished_at or "not finished"),
        ("tool", f"{results.tool.name} {results.tool.version}"), ("results schema", results.schema_version),
        ("reference", results.reference or "none"),
    ])
    config = _e(json.dumps(results.config, indent=2, sort_keys=True, default=str))
    title = f"quantarena: {m.name} ({m.weights})"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}</style>
{script}
</head><body><main>
<header><h1>{_e(title)}</h1>
<p>{_e(d.eval_images)} evaluation and {_e(d.calibration_images)} calibration images of <code>{_e(d.name)}</code>
(disjoint, seed {_e(d.seed)}); reference <code>{_e(results.reference or "none")}</code>.</p>
<p>{_e(cpu.get("model", "?"))}, {_e(results.environment.get("threads"))} threads, {_e(results.environment.get("os"))};
run started {_e(results.started_at)}.</p></header>
{warn}{_cards(results)}
<h2>Results</h2>
{_table(results)}
{_findings(results)}
<h2>Charts</h2>
{charts}
<h2>Recipes</h2>
{_recipes(results)}
<h2>Data, model and machine</h2>
<div class="grid">
<section class="panel"><h3>Dataset</h3>{dataset}</section>
<section class="panel"><h3>Model</h3>{model}</section>
<section class="panel"><h3>Environment</h3>{_environment(results)}</section>
<section class="panel"><h3>Run</h3>{run}
<details><summary>Full run configuration</summary><pre>{config}</pre></details></section>
</div>
<footer>Generated from results.json by {_e(results.tool.name)} {_e(results.tool.version)}.
Accuracy deltas are paired (same images): 95% bootstrap CI and exact McNemar test.</footer>
</main></body></html>
"""


def write_html(results: Results, run_dir: Path) -> Path:
    path = run_dir / HTML_FILE
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(results), encoding="utf-8")
    tmp.replace(path)
    return path
