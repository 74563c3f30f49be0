"""The headline table as one declarative list of columns. The terminal table, ``report.md`` and
``report.html`` all render from ``COLUMNS``, so a column reads the same everywhere and adding one
is one entry here (title, help text, value function, optional style function).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from quantarena.results.measurements import Throughput
from quantarena.results.schema import Results, VariantResult

DASH = "–"

#: How a renderer sets a column: ``name`` and ``status`` identify the row (shown for every
#: variant); ``measure`` columns hold numbers, and collapse into the reason on a row that did
#: not run.
Kind = Literal["name", "status", "measure"]


@dataclass(frozen=True)
class Cell:
    """One table cell: the main text and an optional qualifier (a CI, ``n.s.``) that HTML sets
    smaller; plain-text renderers join the two with a space."""

    text: str
    ci: str = ""

    @property
    def plain(self) -> str:
        return f"{self.text} {self.ci}" if self.ci else self.text


Value = Callable[[VariantResult, Results], Cell]
Style = Callable[[VariantResult, Results], str]


@dataclass(frozen=True)
class Column:
    """A table column. ``style`` returns a CSS class for the HTML cell ("" for none)."""

    title: str
    help: str
    value: Value
    style: Style | None = None
    kind: Kind = "measure"


def _num(value: float | None, fmt: str, suffix: str = "") -> Cell:
    return Cell(DASH) if value is None else Cell(format(value, fmt) + suffix)


def top1_cell(v: VariantResult, _: Results | None = None) -> Cell:
    return _num(v.accuracy.top1 * 100 if v.accuracy else None, ".2f", "%")


def delta_cell(v: VariantResult, results: Results) -> Cell:
    """Δ top-1 in pp with the paired 95% CI; ``n.s.`` when the change is not significant."""
    a = v.accuracy
    if a is not None and v.name == results.reference:
        return Cell("ref")
    if a is None or a.top1_delta_pp is None:
        return Cell(DASH)
    paired = a.vs_reference
    if paired is None or len(paired.ci95_pp) != 2:
        return Cell(f"{a.top1_delta_pp:+.2f}")
    lo, hi = paired.ci95_pp
    return Cell(f"{a.top1_delta_pp:+.2f}",
                f"[{lo:+.1f}, {hi:+.1f}]" + ("" if paired.significant else " n.s."))


def delta_style(v: VariantResult, results: Results) -> str:
    """The reference, a significant loss or gain, or a change within noise: told apart at a
    glance."""
    if v.name == results.reference:
        return "ref" if v.accuracy is not None else ""
    paired = v.accuracy.vs_reference if v.accuracy else None
    if paired is None:
        return ""
    if not paired.significant:
        return "ns"
    return "sig-down" if paired.delta_pp < 0 else "sig-up"


def _agreement(v: VariantResult, _: Results) -> Cell:
    agree = v.accuracy.agreement_top1 if v.accuracy else None
    return _num(agree * 100 if agree is not None else None, ".1f", "%")


def kernel_cell(v: VariantResult, _: Results) -> Cell:
    """Agreement of the deployed kernels with exact arithmetic, and the kernels' share of the
    top-1 change (``n.s.`` when within noise)."""
    k = v.kernel
    if k is None:
        return Cell(DASH)
    share = f"{k.kernel_delta_pp:+.2f} pp" + ("" if k.kernels.significant else " n.s.")
    return Cell(f"{k.agreement_top1 * 100:.1f}%", f"[{share}]")


def kernel_style(v: VariantResult, _: Results) -> str:
    return "sig-down" if v.kernel is not None and v.kernel.kernels.significant else ""


def p50_cell(v: VariantResult, _: Results | None = None) -> Cell:
    """p50 with its CI: across measuring processes when there were several (the honest spread on
    a noisy machine), else the order-statistic CI of the one run's median."""
    lat = v.latency_ms
    if lat is None:
        return Cell(DASH)
    if lat.p50_between_runs:
        spread = lat.p50_between_runs
        return Cell(f"{lat.p50:.2f}",
                    f"[{spread['low']:.2f}, {spread['high']:.2f}]×{len(lat.p50_runs)}")
    if len(lat.p50_ci95) != 2:
        return Cell(f"{lat.p50:.2f}")
    return Cell(f"{lat.p50:.2f}", f"[{lat.p50_ci95[0]:.2f}, {lat.p50_ci95[1]:.2f}]")


def speedup_cell(v: VariantResult, results: Results) -> Cell:
    """The speed-up vs the reference from the interleaved rounds (reference time / this
    variant's, paired by round) with its 95% CI; ``n.s.`` when the CI spans 1."""
    rounds = results.interleaved
    if rounds is None:
        return Cell(DASH)
    if v.name == rounds.reference:
        return Cell("ref")
    s = rounds.vs_reference(v.name)
    if s is None or s.speedup is None:
        return Cell(DASH)
    if len(s.ci95) != 2:
        return Cell(f"{s.speedup:.2f}×")
    lo, hi = s.ci95
    return Cell(f"{s.speedup:.2f}×", f"[{lo:.2f}, {hi:.2f}]" + ("" if s.significant else " n.s."))


def speedup_style(v: VariantResult, results: Results) -> str:
    rounds = results.interleaved
    if rounds is None:
        return ""
    if v.name == rounds.reference:
        return "ref"
    s = rounds.vs_reference(v.name)
    if s is None or s.speedup is None or len(s.ci95) != 2:
        return ""
    if not s.significant:
        return "ns"
    return "sig-up" if s.speedup > 1 else "sig-down"


def _largest_batch(v: VariantResult) -> Throughput | None:
    return v.throughput[-1] if v.throughput else None


def throughput_cell(v: VariantResult, _: Results | None = None) -> Cell:
    t = _largest_batch(v)
    return Cell(f"{t.images_per_s:.1f} @{t.batch}") if t else Cell(DASH)


def size_cell(v: VariantResult, _: Results | None = None) -> Cell:
    return _num(v.artifact.size_mb if v.artifact else None, ".2f")


def _status(v: VariantResult, _: Results) -> Cell:
    if v.status == "ok":
        return Cell("ok")
    return Cell(f"{v.status}: {v.reason or 'no reason recorded'}")


COLUMNS: list[Column] = [
    Column("Variant", "toolchain:recipe", lambda v, _: Cell(v.name), kind="name"),
    Column("Status", "ok, failed, unavailable or not_run", _status, kind="status"),
    Column("Top-1", "top-1 accuracy on the evaluation split", top1_cell),
    Column("Δ top-1 (pp)",
           "change vs the FP32 reference, percentage points, 95% CI; n.s. = not significant",
           delta_cell, delta_style),
    Column("Agree", "top-1 agreement with the FP32 reference", _agreement),
    Column("Kernel agree",
           "top-1 agreement of the deployed INT8 kernels with the same graph in exact arithmetic "
           "[the kernels' share of the top-1 change, pp]; below 100% with a significant share: "
           "the CPU's kernels, not the recipe, lose accuracy", kernel_cell, kernel_style),
    Column("p50 ms",
           "batch-1 median latency [95% CI of the median; with ×N, the range of N measuring "
           "processes' medians]", p50_cell),
    Column("p99 ms", "batch-1 99th-percentile latency",
           lambda v, _: _num(v.latency_ms.p99 if v.latency_ms else None, ".2f")),
    Column("Speed-up",
           "batch-1 speed-up vs the reference from the interleaved rounds (its time / this "
           "variant's, paired by round) [95% CI]; n.s. = the CI spans 1", speedup_cell,
           speedup_style),
    Column("img/s", "throughput at the largest measured batch (over the accuracy pass when it "
           "runs at that batch)", throughput_cell),
    Column("Size MB", "artifact size on disk", size_cell),
    Column("Peak RSS MB", "peak resident memory of the measuring worker",
           lambda v, _: _num(v.memory.peak_rss_mb if v.memory else None, ".0f")),
    Column("CPU s/img", "process CPU seconds per image at the largest batch (energy proxy)",
           lambda v, _: _num(v.cpu_time.seconds_per_image if v.cpu_time else None, ".4f")),
    Column("Build s", "quantization / conversion time",
           lambda v, _: _num(v.build.seconds if v.build else None, ".1f")),
]

def measure_columns() -> list[Column]:
    """The columns whose help the legend explains (the identity columns explain themselves)."""
    return [c for c in COLUMNS if c.kind == "measure"]


def row_cells(v: VariantResult, results: Results) -> list[Cell]:
    """One row; a variant that did not run has its reason in Status and dashes elsewhere."""
    if v.status != "ok":
        return [c.value(v, results) if c.kind != "measure" else Cell(DASH) for c in COLUMNS]
    return [c.value(v, results) for c in COLUMNS]


def table_cells(results: Results) -> list[list[Cell]]:
    return [row_cells(v, results) for v in results.variants]
