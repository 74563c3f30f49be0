"""What could not be measured and the notes each variant earned, computed once for every report
format, so ``report.md`` and ``report.html`` can never disagree about them."""

from __future__ import annotations

from dataclasses import dataclass

from quantarena.results.schema import Results, VariantResult


@dataclass(frozen=True)
class Unmeasured:
    """Measurements missing for the same reason on the same variants ("latency, throughput")."""

    what: str
    why: str
    variants: tuple[str, ...]
    every_measured: bool  # True when every ok variant (more than one) lacks it for this reason


@dataclass(frozen=True)
class Note:
    variant: str
    text: str


def unmeasured(results: Results) -> list[Unmeasured]:
    """``unavailable`` entries grouped by (what, why), in first-seen order; measurements missing
    for the same reason on the same variants then share one line."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for v in results.variants:
        for what, why in v.unavailable.items():
            grouped.setdefault((what, why), []).append(v.name)
    merged: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (what, why), names in grouped.items():
        merged.setdefault((why, tuple(names)), []).append(what)
    measured = {v.name for v in results.variants if v.status == "ok"}
    return [
        Unmeasured(", ".join(whats), why, names, len(names) > 1 and set(names) == measured)
        for (why, names), whats in merged.items()
    ]


def variant_notes(v: VariantResult) -> list[str]:
    """Notes written by the run plus those the measurements derive (drift, contention ...).
    Files from 1.x stored derived notes too, so each text appears once."""
    return list(dict.fromkeys([*v.notes, *v.measurement_notes()]))


def notes(results: Results) -> list[Note]:
    return [Note(v.name, text) for v in results.variants for text in variant_notes(v)]


def machine_line(results: Results) -> str | None:
    """What the machine did during the interleaved rounds, in one line: the slow stretch when
    there was one, else how steady the reference workload, steal and other processes were."""
    rounds = results.interleaved
    if rounds is None or not rounds.machine.samples:
        return None
    summary = rounds.machine.summary()
    if summary.note:
        return f"machine during the rounds: {summary.note}"
    parts = [f"the reference workload ran within {(summary.slowest_relative - 1) * 100:.0f}% of "
             f"its fastest ({summary.fastest_reference_s * 1e3:.0f} ms) in all "
             f"{len(rounds.machine.samples)} rounds"]
    if summary.max_steal_fraction is not None:
        parts.append(f"steal at most {summary.max_steal_fraction:.0%}")
    if summary.max_others_fraction is not None:
        parts.append(f"other processes at most {summary.max_others_fraction:.0%} of the CPU")
    return "machine during the rounds: " + ", ".join(parts)


def rounds_lines(results: Results) -> list[str]:
    """The interleaved rounds' notes for the reports: why they stopped, the machine, waiting
    workers, a fallback, dropped rounds of a speed-up."""
    rounds = results.interleaved
    if rounds is None:
        return []
    machine = machine_line(results)
    dropped = [n for s in rounds.speedups for n in s.row_notes()]
    return [*rounds.notes(), *([machine] if machine else []), *dropped]
