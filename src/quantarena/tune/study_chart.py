"""The calibration study's chart (``tune-calibration.png``): one panel per recipe, Δ top-1 vs FP32
against the number of calibration images (log scale), one line per calibration method, each
point's paired-bootstrap 95% CI as an error bar, the budget as a line when one was given.

Panels share the y axis, so a toolchain that is more sensitive to its calibration recipe looks
it. Methods are nudged apart along x so their error bars do not hide each other.
matplotlib is imported when drawing."""

from __future__ import annotations

import math
from pathlib import Path

from quantarena.tune.study_table import delta, method_rank, repeats
from quantarena.tune.trials import StudyPoint, TuneRecord

CALIBRATION_PNG = "tune-calibration.png"

#: how far apart (a factor along the log x axis) neighbouring methods' points are drawn
_NUDGE = 1.07
_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")
_MARKERS = ("o", "s", "^", "D", "v")


def _scored(record: TuneRecord) -> dict[str, list[StudyPoint]]:
    study = record.study
    if study is None:
        return {}
    panels: dict[str, list[StudyPoint]] = {}
    for point in study.points:
        if point.validation is not None:
            panels.setdefault(point.variant, []).append(point)
    return panels


def draw_study(record: TuneRecord, out: Path) -> Path | None:
    """Draw the chart into ``out``; ``None`` when no point was scored."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, ScalarFormatter

    panels = _scored(record)
    if not panels:
        return None
    assert record.study is not None
    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(5.2 * columns, 1.0 + 3.4 * rows), dpi=110, layout="constrained")
    axes = fig.subplots(rows, columns, sharey=True, squeeze=False).flatten()
    budget = record.study.budget_pp
    for ax, (variant, points) in zip(axes, panels.items(), strict=False):
        methods = sorted(dict.fromkeys(p.method for p in points),
                         key=lambda m: method_rank(variant, m))
        same = repeats(points, variant)
        for index, method in enumerate(methods):
            own = sorted((p for p in points if p.method == method), key=lambda p: p.images)
            shift = _NUDGE ** (index - (len(methods) - 1) / 2)
            values = [delta(p.validation) for p in own if p.validation is not None]
            ax.errorbar(
                [p.images * shift for p in own], [v[0] for v in values],
                yerr=[[v[0] - v[1] for v in values], [v[2] - v[0] for v in values]],
                color=_COLORS[index % len(_COLORS)], marker=_MARKERS[index % len(_MARKERS)],
                markersize=5, linewidth=1.4, capsize=3, elinewidth=0.9,
                label=f"{method} (same build as {same[method]})" if method in same else method,
            )
        ax.axhline(0.0, color="#888888", linewidth=0.8, linestyle="--")
        if budget is not None:
            ax.axhline(-budget, color="#c0392b", linewidth=1, label=f"budget −{budget:g} pp")
        counts = sorted({p.images for p in points})
        ax.set_xscale("log")
        ax.set_xlim(counts[0] / 1.5, counts[-1] * 1.5)
        ax.xaxis.set_major_locator(FixedLocator(counts))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, color="#e5e5e5", linewidth=0.8)
        ax.set_title(variant, fontsize=10)
        ax.set_xlabel("calibration images (log scale); calibration method:", fontsize=8)
        # below the panel: inside it, the legend would hide the error bars it explains
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False,
                  ncol=min(3, len(methods) + (budget is not None)))
    for ax in axes[: len(axes): columns]:
        ax.set_ylabel("Δ top-1 vs FP32, pp (validation)", fontsize=8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(
        f"{record.config.get('model', 'model')}: top-1 change vs calibration images and method\n"
        f"{record.splits.validation_images} validation images, paired-bootstrap 95% CIs",
        fontsize=10,
    )
    path = out / CALIBRATION_PNG
    fig.savefig(path)
    return path
