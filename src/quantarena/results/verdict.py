"""One sentence on two variants of one run: how much faster (interleaved-round speed-up) and what
it cost in accuracy (paired comparison on the same images). The two answers come from different
statistics, so each keeps its own CI and significance; the sentence puts them side by side rather
than folding them into one score."""

from __future__ import annotations

from quantarena.results.accuracy import PairedComparison
from quantarena.results.speedup import PairedSpeedup

MINUS = "\u2212"  # a typographic minus: "−0.25 pp" reads as a number, not a hyphen


def signed(value: float, digits: int) -> str:
    """``+0.90`` / ``−1.40``; zero is written ``±0.00`` so a rounded zero shows no direction."""
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0.0:
        return "\u00b1" + text
    return ("+" if value > 0 else MINUS) + text


def accuracy_clause(paired: PairedComparison, metric: str = "top-1") -> str:
    """``top-1 −0.25 pp, CI [−1.4, +0.9], not significant``; a significant change names its
    exact McNemar p (significant means the CI excludes 0 and p < 0.05)."""
    lo, hi = paired.ci95_pp
    ci = f"CI [{signed(lo, 1)}, {signed(hi, 1)}]"
    verdict = (
        f"significant (McNemar p = {paired.mcnemar_p:.2g})" if paired.significant
        else "not significant"
    )
    return f"{metric} {signed(paired.delta_pp, 2)} pp, {ci}, {verdict}"


def combined_verdict(
    speed: PairedSpeedup | None,
    accuracy: PairedComparison | None,
    *,
    metric: str = "top-1",
) -> str:
    """``B is 1.61× faster than A, 95% CI [1.55, 1.67]; top-1 −0.25 pp, CI [−1.4, +0.9], not
    significant``. Both must compare the same pair the same way round: ``speed`` is B over the
    baseline A and ``accuracy`` is B minus A (``PairedComparison.of(correct_b, correct_a)``). A part
    that was not measured says so instead of vanishing, so a missing speed is never read as
    "no difference"."""
    parts = [
        speed.verdict() if speed is not None else "speed not measured in interleaved rounds",
        accuracy_clause(accuracy, metric) if accuracy is not None
        else f"{metric} not compared",
    ]
    return "; ".join(parts)
