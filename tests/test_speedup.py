"""Paired speed-ups from interleaved rounds, the stop rule, and the accuracy + speed verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantarena.results.accuracy import PairedComparison
from quantarena.results.speedup import (
    PairedSpeedup,
    speedups_against,
    stop_rule,
    t95,
)
from quantarena.results.verdict import accuracy_clause, combined_verdict, signed


def _speedup(value: float, lo: float, hi: float, rounds: int = 20) -> PairedSpeedup:
    return PairedSpeedup(
        baseline="A", variant="B", speedup=value, ci95=[lo, hi], rounds=rounds,
        dropped_rounds=0, rel_half_width=(hi - lo) / 2 / value, significant=lo > 1 or hi < 1,
    )


def test_an_exact_ratio_in_every_round_gives_it_with_a_zero_width_ci() -> None:
    variant = [1.0, 1.3, 0.7, 2.2, 1.1]  # the machine's speed moves; the ratio does not
    s = PairedSpeedup.of("A", "B", [2 * v for v in variant], variant)
    assert s.speedup == pytest.approx(2.0, rel=1e-12)
    assert s.ci95 == pytest.approx([2.0, 2.0], rel=1e-12)
    assert s.rel_half_width == 0.0
    assert s.significant and s.rounds == 5 and s.dropped_rounds == 0
    assert s.verdict() == "B is 2.00× faster than A, 95% CI [2.00, 2.00]"


def test_the_speedup_is_the_geometric_mean_and_reads_the_same_both_ways() -> None:
    a, b = [4.0, 1.0, 3.0], [1.0, 1.0, 3.0]  # ratios 4, 1, 1
    s = PairedSpeedup.of("A", "B", a, b)
    assert s.speedup == pytest.approx(4 ** (1 / 3))
    back = PairedSpeedup.of("B", "A", b, a)
    assert s.speedup is not None
    assert back.speedup == pytest.approx(1 / s.speedup)
    assert back.ci95 == pytest.approx([1 / s.ci95[1], 1 / s.ci95[0]])


def test_noisy_rounds_give_a_ci_that_covers_the_true_ratio() -> None:
    """The machine's speed swings by ±30% between rounds (common to both variants); each timing
    has 3% noise of its own. Pairing cancels the swing: the CI is narrow and covers 1.6."""
    rng = np.random.default_rng(1)
    machine = np.exp(rng.normal(0.0, 0.3, 40))
    b = machine * np.exp(rng.normal(0.0, 0.03, 40))
    a = 1.6 * machine * np.exp(rng.normal(0.0, 0.03, 40))
    s = PairedSpeedup.of("A", "B", list(a), list(b))
    lo, hi = s.ci95
    assert lo < 1.6 < hi
    assert s.rel_half_width is not None and s.rel_half_width < 0.03
    assert s.verdict().startswith("B is 1.")
    assert "faster than A, 95% CI [" in s.verdict()


def test_the_ci_covers_the_true_ratio_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    trials = 400
    for _ in range(trials):
        machine = np.exp(rng.normal(0.0, 0.2, 8))
        b = machine * np.exp(rng.normal(0.0, 0.05, 8))
        a = 1.25 * machine * np.exp(rng.normal(0.0, 0.05, 8))
        lo, hi = PairedSpeedup.of("A", "B", list(a), list(b)).ci95
        covered += lo <= 1.25 <= hi
    assert 0.92 <= covered / trials <= 0.98


def test_a_ci_spanning_one_is_not_significant() -> None:
    s = PairedSpeedup.of("A", "B", [1.0, 1.1, 0.9, 1.0], [1.0, 1.05, 1.0, 1.0])
    lo, hi = s.ci95
    assert lo < 1.0 < hi and not s.significant
    assert s.verdict() == (
        f"no significant speed difference between A and B: {s.speedup:.2f}×, "
        f"95% CI [{lo:.2f}, {hi:.2f}]"
    )


def test_a_slower_variant_is_written_as_a_slowdown_factor() -> None:
    s = PairedSpeedup.of("A", "B", [1.0, 1.0, 1.0, 1.0], [1.08, 1.07, 1.09, 1.08])
    assert s.significant and s.speedup is not None and s.speedup < 1
    lo, hi = s.ci95
    assert s.verdict() == (
        f"B is {1 / s.speedup:.2f}× slower than A, 95% CI [{1 / hi:.2f}, {1 / lo:.2f}]"
    )
    assert s.verdict().startswith("B is 1.08× slower than A, 95% CI [1.0")


def test_rounds_with_a_missing_time_are_dropped_and_counted() -> None:
    a = [2.0, None, 2.2, 1.8, math.nan, 2.0]
    b = [1.0, 1.0, 1.0, 1.0, 1.0, None]
    s = PairedSpeedup.of("A", "B", a, b)
    assert s.rounds == 3 and s.dropped_rounds == 3
    assert s.speedup == pytest.approx(math.exp(np.mean(np.log([2.0, 2.2, 1.8]))))
    assert s.row_notes() == [
        "3 of 6 rounds of B vs A were dropped (a time was missing, e.g. re-measured under "
        "contention)"
    ]
    assert PairedSpeedup.of("A", "B", [2.0] * 3, [1.0] * 3).row_notes() == []


def test_fewer_than_three_rounds_give_no_ci() -> None:
    s = PairedSpeedup.of("A", "B", [2.0, 2.1, None], [1.0, 1.0, 1.0])
    assert s.rounds == 2 and s.ci95 == [] and s.rel_half_width is None and not s.significant
    assert s.verdict() == "B ran 2.05× faster than A in 2 rounds, too few for a 95% CI"
    one = PairedSpeedup.of("A", "B", [1.0], [2.0])
    assert one.verdict() == "B ran 2.00× slower than A in 1 round, too few for a 95% CI"


def test_no_usable_round_gives_no_speedup() -> None:
    s = PairedSpeedup.of("A", "B", [None, 1.0], [1.0, math.nan])
    assert s.speedup is None and s.rounds == 0 and s.dropped_rounds == 2
    assert s.verdict() == "no speed comparison of B with A: none of its 2 rounds has both times"
    assert PairedSpeedup.model_validate_json(s.model_dump_json()) == s


def test_bad_rounds_are_refused() -> None:
    with pytest.raises(ValueError, match="paired by index"):
        PairedSpeedup.of("A", "B", [1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        PairedSpeedup.of("A", "B", [1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        PairedSpeedup.of("A", "B", [1.0, math.inf], [1.0, 1.0])


def test_t_quantiles_match_the_tables() -> None:
    table = {1: 12.7062047, 2: 4.3026527, 4: 2.7764451, 9: 2.2621572, 30: 2.0422725}
    for df, value in table.items():
        assert t95(df) == pytest.approx(value, abs=1e-6)
    assert t95(100_000) == pytest.approx(1.959964, abs=1e-4)
    with pytest.raises(ValueError):
        t95(0)


def test_speedups_against_the_reference() -> None:
    times = {"A": [2.0, 2.0, 2.0], "B": [1.0, 1.0, 1.0], "C": [4.0, 4.0, 4.0]}
    found = {s.variant: s for s in speedups_against("A", times)}
    assert set(found) == {"B", "C"}
    assert found["B"].speedup == pytest.approx(2.0) and found["C"].speedup == pytest.approx(0.5)
    with pytest.raises(ValueError, match="reference"):
        speedups_against("Z", times)


def test_the_stop_rule_converges_when_every_pair_is_tight() -> None:
    tight, loose = _speedup(1.6, 1.58, 1.62), _speedup(1.2, 1.1, 1.3)
    done = stop_rule([tight], rounds=10, elapsed_s=5.0, max_seconds=60.0, max_rounds=50)
    assert done.stop and done.reason == "converged" and done.worst == tight
    going = stop_rule([tight, loose], rounds=10, elapsed_s=5.0, max_seconds=60, max_rounds=50)
    assert not going.stop and going.reason == "ci_too_wide" and going.worst == loose
    wider_target = stop_rule(
        [tight, loose], rounds=10, elapsed_s=5.0, max_seconds=60, max_rounds=50, target=0.1
    )
    assert wider_target.stop and wider_target.reason == "converged"


def test_the_stop_rule_needs_a_few_rounds_before_it_trusts_a_ci() -> None:
    exact = _speedup(2.0, 2.0, 2.0, rounds=3)
    early = stop_rule([exact], rounds=3, elapsed_s=1.0, max_seconds=60.0, max_rounds=50)
    assert not early.stop and early.reason == "too_few_rounds"
    no_ci = PairedSpeedup.of("A", "B", [2.0], [1.0])
    worst = stop_rule([exact, no_ci], rounds=9, elapsed_s=1.0, max_seconds=60, max_rounds=50)
    assert not worst.stop and worst.worst == no_ci  # no CI yet counts as the widest


def test_the_stop_rule_ends_at_the_time_cap_and_the_round_limit() -> None:
    loose = _speedup(1.2, 1.0, 1.4)
    capped = stop_rule([loose], rounds=10, elapsed_s=60.0, max_seconds=60.0, max_rounds=50)
    assert capped.stop and capped.reason == "time_cap" and capped.worst == loose
    limit = stop_rule([loose], rounds=50, elapsed_s=5.0, max_seconds=60.0, max_rounds=50)
    assert limit.stop and limit.reason == "max_rounds"
    # a run that converged on its last allowed round says it converged
    tight = _speedup(1.6, 1.59, 1.61)
    last = stop_rule([tight], rounds=50, elapsed_s=61.0, max_seconds=60.0, max_rounds=50)
    assert last.reason == "converged"


def test_the_combined_verdict_reads_as_one_line() -> None:
    accuracy = PairedComparison(
        images=800, delta_pp=-0.25, ci95_pp=[-1.375, 0.875], mcnemar_p=0.71, gained=14,
        lost=16, significant=False,
    )
    assert combined_verdict(_speedup(1.61, 1.55, 1.67), accuracy) == (
        "B is 1.61× faster than A, 95% CI [1.55, 1.67]; "
        "top-1 \u22120.25 pp, CI [\u22121.4, +0.9], not significant"
    )
    assert combined_verdict(None, accuracy).startswith("speed not measured in interleaved rounds;")
    assert combined_verdict(_speedup(1.61, 1.55, 1.67), None).endswith("; top-1 not compared")


def test_a_significant_accuracy_change_names_its_p_value() -> None:
    correct_a = np.ones(400, dtype=bool)
    correct_b = correct_a.copy()
    correct_b[:30] = False  # B loses 30 images A gets right
    paired = PairedComparison.of(correct_b, correct_a)
    clause = accuracy_clause(paired)
    assert paired.significant
    assert clause.startswith("top-1 \u22127.50 pp, CI [\u2212")
    assert clause.endswith(f"significant (McNemar p = {paired.mcnemar_p:.2g})")
    assert signed(0.001, 2) == "\u00b10.00" and signed(0.4, 1) == "+0.4"


def test_t_quantiles_match_scipy_across_degrees_of_freedom() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in [*range(1, 40), 150, 200, 201, 500, 5000]:
        assert t95(df) == pytest.approx(float(stats.t.ppf(0.975, df)), abs=1e-8), df


def test_the_stop_rule_counts_rounds_per_pair() -> None:
    """A pair with dropped rounds rests on fewer rounds than were timed: five rounds timed, one
    of them discarded for this pair, are still too few to trust its CI."""
    exact_on_four = _speedup(2.0, 2.0, 2.0, rounds=4)
    decision = stop_rule([exact_on_four], rounds=5, elapsed_s=1.0, max_seconds=60, max_rounds=50)
    assert not decision.stop and decision.reason == "too_few_rounds"
