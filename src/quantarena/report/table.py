"""The headline table, built from results only (shared by the terminal, Markdown and HTML)."""

from __future__ import annotations

from dataclasses import dataclass

from quantarena.results.schema import Results, VariantResult

DASH = "–"


@dataclass(frozen=True)
class Column:
    title: str
    help: str


COLUMNS = [
    Column("Variant", "toolchain:recipe"),
    Column("Status", "ok, failed or unavailable"),
    Column("Top-1", "top-1 accuracy on the evaluation split"),
    Column("Δ top-1 (pp)", "change vs the FP32 reference, percentage points, 95% CI; n.s. = not significant"),
    Column("Agree", "top-1 agreement with the FP32 reference"),
    Column("p50 ms", "batch-1 median latency [95% CI of the median; with ×N, the range of N measuring processes' medians]"),
    Column("p99 ms", "batch-1 99th-percentile latency"),
    Column("img/s", "throughput at the largest measured batch"),
    Column("Size MB", "artifact size on disk"),
    Column("Peak RSS MB", "peak resident memory of the measuring worker"),
    Column("CPU s/img", "process CPU seconds per image in the throughput pass (energy proxy)"),
    Column("Build s", "quantization / conversion time"),
]


def _num(value: float | None, fmt: str) -> str:
    return DASH if value is None else format(value, fmt)


def delta_cell(v: VariantResult, reference: str | None) -> str:
    a = v.accuracy
    if v.name == reference and a is not None:
        return "ref"
    if a is None or a.top1_delta_pp is None:
        return DASH
    cell = f"{a.top1_delta_pp:+.2f}"
    comparison = a.vs_reference or {}
    if "ci95_pp" in comparison:
        lo, hi = comparison["ci95_pp"]
        cell += f" [{lo:+.1f}, {hi:+.1f}]"
        cell += "" if comparison.get("significant") else " n.s."
    return cell


def _p50_cell(v: VariantResult) -> str:
    """p50 with its CI: across measuring processes when there were several (the honest spread on a
    noisy machine), else the order-statistic CI of the one run's median."""
    lat = v.latency_ms
    if lat is None:
        return DASH
    if lat.p50_between_runs:
        spread = lat.p50_between_runs
        return f"{lat.p50:.2f} [{spread['low']:.2f}, {spread['high']:.2f}]×{len(lat.p50_runs)}"
    return f"{lat.p50:.2f} [{lat.p50_ci95[0]:.2f}, {lat.p50_ci95[1]:.2f}]"


def row(v: VariantResult, reference: str | None) -> list[str]:
    if v.status != "ok":
        reason = (v.reason or "").replace("|", "/")
        return [v.name, f"{v.status}: {reason}"] + [DASH] * (len(COLUMNS) - 2)
    lat = v.latency_ms
    thr = v.throughput[-1] if v.throughput else None
    energy = v.energy or {}
    return [
        v.name,
        "ok",
        _num(v.accuracy.top1 * 100 if v.accuracy else None, ".2f") + ("%" if v.accuracy else ""),
        delta_cell(v, reference),
        _num(v.accuracy.agreement_top1 * 100 if v.accuracy and v.accuracy.agreement_top1 is not None else None, ".1f")
        + ("%" if v.accuracy and v.accuracy.agreement_top1 is not None else ""),
        _p50_cell(v),
        _num(lat.p99 if lat else None, ".2f"),
        (f"{thr.images_per_s:.1f} @{thr.batch}" if thr else DASH),
        _num(v.artifact.size_mb if v.artifact else None, ".2f"),
        _num(v.memory.peak_rss_mb if v.memory else None, ".0f"),
        _num(energy.get("cpu_seconds_per_image"), ".4f"),
        _num(v.build.seconds if v.build else None, ".1f"),
    ]


def table_rows(results: Results) -> list[list[str]]:
    return [row(v, results.reference) for v in results.variants]


def markdown_table(results: Results) -> str:
    header = [c.title for c in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(results)]
    return "\n".join(lines)
