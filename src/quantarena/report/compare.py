"""Compare two runs side by side (Markdown), or two variants of one run image by image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.errors import ResultsError
from quantarena.report.columns import DASH, throughput_cell, top1_cell
from quantarena.results.accuracy import PairedComparison
from quantarena.results.identity import SAME_EXPERIMENT
from quantarena.results.io import load_results
from quantarena.results.schema import Results, VariantResult
from quantarena.results.speedup import PairedSpeedup
from quantarena.results.verdict import combined_verdict


def _gpus(r: Results) -> str | None:
    gpus = r.environment.gpu or []
    return "; ".join(f"{g.name} (driver {g.driver})" for g in gpus) or None


# What must match for two runs' numbers to be comparable: (label, how to read it).
def _dot_product(results: Results) -> str | None:
    int8 = results.environment.cpu.int8
    return int8.dot_product if int8 else None


SETUP: list[tuple[str, Callable[[Results], object]]] = [
    ("CPU model", lambda r: r.environment.cpu.model),
    ("INT8 dot product", lambda r: _dot_product(r)),
    ("logical cores", lambda r: r.environment.cpu.logical_cores),
    ("physical cores", lambda r: r.environment.cpu.physical_cores),
    ("threads", lambda r: r.environment.threads),
    ("CPU pinning", lambda r: r.environment.pin_cpus),
    ("GPU", _gpus),
    ("OS", lambda r: r.environment.os),
    ("Python", lambda r: r.environment.python),
    *SAME_EXPERIMENT,
    ("dataset", lambda r: r.dataset.name),
    ("calibration list (SHA-256)", lambda r: r.dataset.calibration_list_sha256),
]


def environment_differences(a: Results, b: Results) -> list[str]:
    """One line per difference that can move the numbers (machine, packages, model, data)."""
    lines = []
    for label, read in SETUP:
        va, vb = read(a), read(b)
        if va != vb:
            lines.append(f"{label} differs: A `{_short(va)}`, B `{_short(vb)}`")
    isa_a, isa_b = a.environment.cpu.isa, b.environment.cpu.isa
    flags = sorted(f for f in set(isa_a) | set(isa_b) if bool(isa_a.get(f)) != bool(isa_b.get(f)))
    if flags:
        only_a = ", ".join(f for f in flags if isa_a.get(f)) or "none"
        only_b = ", ".join(f for f in flags if isa_b.get(f)) or "none"
        lines.append(f"ISA flags differ: only A has {only_a}; only B has {only_b}")
    pa, pb = a.environment.packages, b.environment.packages
    for name in sorted(set(pa) | set(pb)):
        if pa.get(name) != pb.get(name):
            lines.append(f"package `{name}` differs: A {pa.get(name) or 'absent'}, "
                         f"B {pb.get(name) or 'absent'}")
    return lines


def _short(value: object) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 24 else text[:12] + "…" + text[-8:]


def _top1(v: VariantResult | None) -> str:
    if v is None:
        return "absent"
    return top1_cell(v).text if v.status == "ok" else v.status


def _p50(v: VariantResult | None) -> float | None:
    return v.latency_ms.p50 if v is not None and v.status == "ok" and v.latency_ms else None


def _ok(v: VariantResult | None, cell: Callable[[VariantResult], str]) -> str:
    return cell(v) if v is not None and v.status == "ok" else DASH


def _fmt(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def _size(v: VariantResult) -> str:
    return _fmt(v.artifact.size_mb if v.artifact else None)


def render_comparison(a: Results, b: Results, label_a: str = "A", label_b: str = "B") -> str:
    names = list(dict.fromkeys([v.name for v in a.variants] + [v.name for v in b.variants]))
    header = ["Variant", "Top-1 A", "Top-1 B", "p50 ms A", "p50 ms B", "p50 B/A", "img/s A",
              "img/s B", "Size MB A", "Size MB B"]
    lines = [
        f"# quantarena: {label_a} vs {label_b}",
        "",
        f"- A: `{label_a}`: {a.model.name} ({a.model.weights}), started {a.started_at}",
        f"- B: `{label_b}`: {b.model.name} ({b.model.weights}), started {b.started_at}",
        "",
    ]
    differences = environment_differences(a, b)
    if differences:
        lines += ["> Warning: the runs differ in what can move the numbers:", ">"]
        lines += [f"> - {d}" for d in differences] + [""]
    else:
        lines += ["Machine, threads, packages, model and data lists match.", ""]
    for label, run in (("A", a), ("B", b)):
        if run.environment.load_warning:
            lines += [f"> Warning: run {label}: {run.environment.load_warning}; "
                      "its numbers may be skewed.", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name in names:
        va, vb = a.variant(name), b.variant(name)
        pa, pb = _p50(va), _p50(vb)
        ratio = f"{pb / pa:.2f}×" if pa and pb is not None else DASH
        img_s = [_ok(v, lambda x: throughput_cell(x).text) for v in (va, vb)]
        cells = [name, _top1(va), _top1(vb), _fmt(pa), _fmt(pb), ratio, *img_s,
                 _ok(va, _size), _ok(vb, _size)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "p50 B/A below 1 means B is faster. Batch-1 p50 latency; img/s at the largest "
              "measured batch."]
    if (a.dataset.eval_list_sha256 == b.dataset.eval_list_sha256
            and a.dataset.eval_images == b.dataset.eval_images):
        lines.append("Both runs evaluated the same images, so their accuracies compare directly.")
    return "\n".join(lines) + "\n"


def compare_runs(run_a: Path, run_b: Path) -> str:
    """Markdown: the variants of two runs side by side, with warnings where the setups differ."""
    return render_comparison(load_results(run_a), load_results(run_b), str(run_a), str(run_b))


@dataclass(frozen=True)
class VariantComparison:
    """Two variants of one run on the same evaluation images."""

    a: str
    b: str
    top1_a: float
    top1_b: float
    agreement_top1: float
    paired: PairedComparison  # B relative to A
    #: B's speed-up over A from the run's interleaved rounds (None: not timed in rounds)
    speed: PairedSpeedup | None = None

    def verdict(self) -> str:
        """One line, speed then accuracy, each with its own CI and significance."""
        return combined_verdict(self.speed, self.paired)

    def _speed_rows(self) -> list[str]:
        s = self.speed
        if s is None or s.speedup is None:
            return []
        ci = f", 95% CI [{s.ci95[0]:.2f}, {s.ci95[1]:.2f}]" if len(s.ci95) == 2 else ""
        word = "" if s.significant else " (not significant)"
        return [f"| Speed-up B over A (A time / B time) | {s.speedup:.2f}×{ci}{word}, "
                f"{s.rounds} paired rounds |"]

    def to_markdown(self) -> str:
        p = self.paired
        lo, hi = p.ci95_pp
        verdict = "significant" if p.significant else "not significant"
        return "\n".join([
            f"# `{self.b}` vs `{self.a}` on the same {p.images} images",
            "",
            f"**Verdict:** {self.verdict()}",
            "",
            "| Measure | Value |",
            "|---|---|",
            *self._speed_rows(),
            f"| Top-1 `{self.a}` | {self.top1_a * 100:.2f}% |",
            f"| Top-1 `{self.b}` | {self.top1_b * 100:.2f}% |",
            f"| Δ top-1 (B − A) | {p.delta_pp:+.2f} pp, 95% CI [{lo:+.2f}, {hi:+.2f}] "
            f"({verdict}) |",
            f"| Exact McNemar p | {p.mcnemar_p:.4g} |",
            f"| Only B right (gained) | {p.gained} |",
            f"| Only A right (lost) | {p.lost} |",
            f"| Same top-1 prediction | {self.agreement_top1 * 100:.1f}% |",
            "",
            "CI: paired bootstrap over images; significant means the CI excludes 0 and p < 0.05."
            + (" Speed-up: geometric mean of the per-round time ratios of the interleaved rounds "
               "(same round, same machine state), t-interval." if self.speed else ""),
        ]) + "\n"


def _predictions(run_dir: Path, results: Results, name: str) -> Any:
    from quantarena.measure.accuracy import Predictions

    v = results.variant(name)
    if v is None:
        known = ", ".join(x.name for x in results.variants) or "none"
        raise ResultsError(f"no variant {name!r} in {run_dir} (variants: {known})")
    if not v.predictions_file:
        why = f": {v.reason}" if v.reason else ""
        raise ResultsError(f"{name} has no per-image predictions ({v.status}{why})")
    path = run_dir / v.predictions_file
    if not path.exists():
        raise ResultsError(f"predictions of {name} are missing: {path}")
    return Predictions.load(path)


def compare_variants(run_dir: Path, a: str, b: str) -> VariantComparison:
    """Paired accuracy statistics of variant ``b`` relative to ``a`` from their per-image
    predictions."""
    results = load_results(run_dir)
    run_dir = run_dir if run_dir.is_dir() else run_dir.parent
    pa, pb = _predictions(run_dir, results, a), _predictions(run_dir, results, b)
    if pa.files != pb.files:
        raise ResultsError(f"{a} and {b} were evaluated on different images")
    rounds = results.interleaved
    return VariantComparison(
        a=a, b=b, top1_a=float(pa.correct_top1.mean()), top1_b=float(pb.correct_top1.mean()),
        agreement_top1=float(np.mean(pa.top5[:, 0] == pb.top5[:, 0])),
        paired=PairedComparison.of(pb.correct_top1, pa.correct_top1),
        speed=rounds.pair(a, b) if rounds is not None else None,
    )
