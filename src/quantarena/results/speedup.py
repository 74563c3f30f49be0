"""Speed-ups from interleaved rounds: when variants are timed in rounds (A B C, A B C ..., order
shuffled per round), each round's two medians were taken under the same machine state, so their
ratio cancels whatever slowed the machine that round. The speed-up is the geometric mean of the
per-round ratios with a t-interval on their logarithms, and a stop rule says when enough rounds
have been timed.

NumPy and the standard library only (no SciPy): reading results needs no optional extra.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from quantarena.measure.stats import Z95
from quantarena.results.measurements import Block

#: Fewest paired rounds with a CI. Two log-ratios give one degree of freedom (t = 12.7): an
#: interval that wide says nothing, and one whose spread rests on two values is mostly luck.
MIN_CI_ROUNDS = 3
#: Default target of the stop rule: every speed-up known to within +/-3% (CI half-width / ratio).
TARGET_REL_HALF_WIDTH = 0.03
#: Default fewest rounds before the stop rule may say "converged": a standard deviation from three
#: or four rounds can be small by chance, and a narrow CI from it would stop the run too early.
MIN_ROUNDS = 5


class PairedSpeedup(Block):
    """How much faster ``variant`` runs than ``baseline``, from rounds paired by index.

    ``speedup`` is baseline time / variant time (above 1: the variant is faster), the geometric
    mean of the per-round ratios: ratios multiply, so their logarithms are averaged, and the same
    data read the other way round gives exactly the reciprocal. ``ci95`` is the t-interval of the
    mean log-ratio mapped back (empty below ``MIN_CI_ROUNDS`` rounds); ``rel_half_width`` is
    (high - low) / 2 / speedup, the same measure as the latency pass's CI target. ``speedup`` is
    None when no round has both times.
    """

    baseline: str
    variant: str
    speedup: float | None
    ci95: list[float]
    rounds: int  # rounds with both times, the ones used
    dropped_rounds: int  # rounds where either time was missing (None/NaN), left out
    rel_half_width: float | None
    significant: bool  # the CI excludes 1.0

    @classmethod
    def of(
        cls,
        baseline: str,
        variant: str,
        baseline_times: Sequence[float | None],
        variant_times: Sequence[float | None],
    ) -> PairedSpeedup:
        """Per-round medians (any time unit, the same for both), paired by round index. A round
        where either value is None or NaN (e.g. re-measured under contention) is dropped and
        counted; a round's time must otherwise be positive."""
        if len(baseline_times) != len(variant_times):
            raise ValueError(
                f"{baseline} has {len(baseline_times)} rounds and {variant} "
                f"{len(variant_times)}: rounds are paired by index, so pad missing ones with None"
            )
        logs = []
        for a, b in zip(baseline_times, variant_times, strict=True):
            if _missing(a) or _missing(b):
                continue
            assert a is not None and b is not None  # narrowed by _missing
            if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
                raise ValueError(f"round times must be positive and finite, got {a} and {b}")
            logs.append(math.log(a / b))
        used, dropped = len(logs), len(baseline_times) - len(logs)
        if not logs:
            return cls(baseline=baseline, variant=variant, speedup=None, ci95=[], rounds=0,
                       dropped_rounds=dropped, rel_half_width=None, significant=False)
        values = np.asarray(logs, dtype=np.float64)
        center = float(values.mean())
        speedup = math.exp(center)
        if used < MIN_CI_ROUNDS:
            return cls(baseline=baseline, variant=variant, speedup=speedup, ci95=[],
                       rounds=used, dropped_rounds=dropped, rel_half_width=None,
                       significant=False)
        # Identical log-ratios give a zero standard deviation, not a rounding residue.
        sd = 0.0 if float(np.ptp(values)) == 0.0 else float(values.std(ddof=1))
        half = t95(used - 1) * sd / math.sqrt(used)
        lo, hi = math.exp(center - half), math.exp(center + half)
        return cls(
            baseline=baseline,
            variant=variant,
            speedup=speedup,
            ci95=[lo, hi],
            rounds=used,
            dropped_rounds=dropped,
            rel_half_width=(hi - lo) / 2.0 / speedup,
            significant=bool(lo > 1.0 or hi < 1.0),
        )

    def verdict(self) -> str:
        """One line: faster/slower with the CI, or no significant difference. A slowdown is
        written as a factor above 1 ("1.08× slower"), with its CI inverted to match."""
        a, b = self.baseline, self.variant
        s = self.speedup
        if s is None:
            return (f"no speed comparison of {b} with {a}: none of its {self.dropped_rounds} "
                    "rounds has both times")
        if len(self.ci95) != 2:
            word, factor = ("faster", s) if s >= 1.0 else ("slower", 1.0 / s)
            return (f"{b} ran {factor:.2f}× {word} than {a} in {_rounds(self.rounds)}, "
                    f"too few for a 95% CI")
        lo, hi = self.ci95
        if not self.significant:
            return (f"no significant speed difference between {a} and {b}: {s:.2f}×, "
                    f"95% CI [{lo:.2f}, {hi:.2f}]")
        if s > 1.0:
            return f"{b} is {s:.2f}× faster than {a}, 95% CI [{lo:.2f}, {hi:.2f}]"
        return f"{b} is {1 / s:.2f}× slower than {a}, 95% CI [{1 / hi:.2f}, {1 / lo:.2f}]"

    def row_notes(self) -> list[str]:
        """Dropped rounds: the speed-up rests on fewer rounds than were timed."""
        if not self.dropped_rounds:
            return []
        total = self.rounds + self.dropped_rounds
        return [f"{self.dropped_rounds} of {total} rounds of {self.variant} vs {self.baseline} "
                "were dropped (a time was missing, e.g. re-measured under contention)"]


def speedups_against(
    reference: str, round_times: Mapping[str, Sequence[float | None]]
) -> list[PairedSpeedup]:
    """The speed-up of every other variant over ``reference``, from each variant's per-round
    medians (the reference's included in ``round_times``)."""
    if reference not in round_times:
        raise ValueError(f"no round times for the reference {reference!r}")
    base = round_times[reference]
    return [
        PairedSpeedup.of(reference, name, base, times)
        for name, times in round_times.items()
        if name != reference
    ]


StopReason = Literal["converged", "time_cap", "max_rounds", "too_few_rounds", "ci_too_wide"]


class StopDecision(BaseModel):
    """Whether to time another round. ``reason`` is why it stops ("converged", "time_cap",
    "max_rounds") or why it goes on ("too_few_rounds", "ci_too_wide"); ``worst`` is the pair with
    the widest relative CI (no CI counts as widest), the one holding the run back."""

    model_config = ConfigDict(frozen=True)
    stop: bool
    reason: StopReason
    worst: PairedSpeedup | None = None


def stop_rule(
    speedups: Sequence[PairedSpeedup],
    *,
    rounds: int,
    elapsed_s: float,
    max_seconds: float,
    max_rounds: int,
    target: float = TARGET_REL_HALF_WIDTH,
    min_rounds: int = MIN_ROUNDS,
) -> StopDecision:
    """Stop when every speed-up vs the reference is known to ``target`` (relative CI half-width)
    after at least ``min_rounds`` rounds, counted per pair (a pair whose rounds were dropped has
    fewer than were timed); otherwise when ``elapsed_s`` reaches ``max_seconds`` or ``rounds``
    reaches ``max_rounds`` (a run must end even on a machine too noisy to converge).
    Convergence is checked first, so a run that converged on its last allowed round says so."""
    worst = max(speedups, key=_width, default=None)
    widest = _width(worst) if worst is not None else 0.0
    fewest = min([rounds, *(s.rounds for s in speedups)])
    if fewest >= min_rounds and widest <= target:
        return StopDecision(stop=True, reason="converged", worst=worst)
    if elapsed_s >= max_seconds:
        return StopDecision(stop=True, reason="time_cap", worst=worst)
    if rounds >= max_rounds:
        return StopDecision(stop=True, reason="max_rounds", worst=worst)
    reason: StopReason = "too_few_rounds" if fewest < min_rounds else "ci_too_wide"
    return StopDecision(stop=False, reason=reason, worst=worst)


def _width(s: PairedSpeedup) -> float:
    return math.inf if s.rel_half_width is None else s.rel_half_width


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _rounds(count: int) -> str:
    return "1 round" if count == 1 else f"{count} rounds"


_SERIES_DF = 200


@lru_cache(maxsize=256)
def t95(df: int) -> float:
    """Two-sided 95% quantile of Student's t with ``df`` degrees of freedom (t such that
    P(|T| < t) = 0.95), by bisection on the exact closed-form CDF for integer ``df``
    (Abramowitz & Stegun 26.7.3), so SciPy is not needed. Above ``_SERIES_DF`` the CDF's series
    grows long and the Cornish-Fisher expansion (A&S 26.7.5) is exact to 1e-9 instead."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if df > _SERIES_DF:
        z, v = Z95, float(df)
        return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
                + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3))
    lo, hi = 0.0, math.pi / 2.0  # bisect on theta = atan(t / sqrt(df))
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if _t_central(mid, df) < 0.95:
            lo = mid
        else:
            hi = mid
    return math.sqrt(df) * math.tan((lo + hi) / 2.0)


def _t_central(theta: float, df: int) -> float:
    """P(|T| < sqrt(df) * tan(theta)) for Student's t with integer ``df`` (A&S 26.7.3)."""
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:
        term = total = 1.0
        for j in range(1, df // 2):
            term *= c2 * (2 * j - 1) / (2 * j)
            total += term
        return s * total
    if df == 1:
        return 2.0 * theta / math.pi
    term = total = math.cos(theta)
    for j in range(1, (df - 1) // 2):
        term *= c2 * (2 * j) / (2 * j + 1)
        total += term
    return 2.0 / math.pi * (theta + s * total)
