"""The accuracy/latency chart of a tune run (``tune-pareto.png``): every timed trial by recipe,
the Pareto set joined by a line, the budget as a horizontal line, the winner ringed. Shows at a
glance what the table states: how much speed each point of accuracy costs, per toolchain.
matplotlib is imported when drawing."""

from __future__ import annotations

from pathlib import Path

from quantarena.tune.select import measured
from quantarena.tune.sensitivity import Sensitivity
from quantarena.tune.trials import Trial, TuneRecord

PARETO_PNG = "tune-pareto.png"


def draw_pareto(record: TuneRecord, out: Path) -> Path | None:
    """Draw the chart into ``out``; ``None`` when no trial has both a drop and a latency."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    points = {t.key: p for t in measured(record.trials) if (p := _point(t)) is not None}
    if not points:
        return None
    fig = Figure(figsize=(7.0, 4.4), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    for variant in dict.fromkeys(variant for variant, _ in points):
        own = [p for (v, _), p in points.items() if v == variant]
        ax.scatter([p[0] for p in own], [p[1] for p in own], label=variant, s=28)
    front = [points[key] for key in record.pareto if key in points]
    if front:
        ax.plot([p[0] for p in front], [p[1] for p in front], color="#555555", linewidth=1,
                linestyle="--", label="Pareto set")
    if record.overall in points:
        ms, drop = points[record.overall]
        ax.scatter([ms], [drop], s=160, facecolors="none", edgecolors="black", linewidths=1.5,
                   label="fastest within budget")
    ax.axhline(record.max_drop_pp, color="#c0392b", linewidth=1,
               label=f"budget {record.max_drop_pp:g} pp")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("batch-1 median latency, ms (log scale)")
    ax.set_ylabel("top-1 drop vs FP32 on validation, pp")
    ax.legend(fontsize=7, loc="best")
    path = out / PARETO_PNG
    fig.savefig(path)
    return path


def _point(trial: Trial) -> tuple[float, float] | None:
    """(latency ms, drop pp) of a timed trial."""
    score = trial.validation
    if score is None or score.latency_p50_ms is None:
        return None
    return score.latency_p50_ms, score.drop_pp


def draw_sensitivity(ranking: Sensitivity, path: Path, shown: int = 15) -> Path | None:
    """The most damaging layers, top-1 regained when each alone stays in FP32 (bars) and the
    output error it removes (dots, top axis); ``None`` when nothing was ranked."""
    from matplotlib.figure import Figure

    layers = ranking.layers[:shown]
    if not layers:
        return None
    fig = Figure(figsize=(7.0, 1.4 + 0.3 * len(layers)), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    rows = range(len(layers))
    ax.barh(rows, [d.top1_gain_pp for d in layers], color="#4c72b0", label="top-1 regained, pp")
    ax.set_yticks(list(rows), [d.layer for d in layers], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("top-1 regained when the layer alone stays FP32, pp (validation)")
    error = ax.twiny()
    error.scatter([d.mse_reduction for d in layers], list(rows), color="#c44e52", s=14)
    error.set_xlabel("output error removed (mean squared logit difference vs FP32)",
                     color="#c44e52")
    fig.savefig(path)
    return path
