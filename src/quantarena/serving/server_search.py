"""The Server search: the highest Poisson arrival rate (target QPS) at which LoadGen calls the run
VALID, i.e. its p99 latency stays within the bound and its early-stopping rule accepts it.

Bisection between 0 and (a little above) the Offline rate of the same mode: no arrival rate can be
served faster than the SUT's best batched throughput. Each step is one full LoadGen Server run,
kept with its summary; after ``steps`` runs the answer is known to within ``upper / 2**steps``.

Two limits keep the search honest and finite. A query served alone already takes its SingleStream
p99 plus the batcher's longest wait; when that exceeds the bound no rate can be VALID, and the
search says so instead of running. And a run lasts at least ``server_queries / QPS`` seconds, so
rates whose run would last over ``TRIAL_CAP_S`` are not tried: the answer is then "below" them.
"""

from __future__ import annotations

from collections.abc import Callable

from quantarena.results.scenarios import ScenarioRun, ServerSearch
from quantarena.serving.harness import Harness

Log = Callable[[str], None]
#: longest a single Server run of the search may last (its query count at its rate)
TRIAL_CAP_S = 60.0


def alone_ms(harness: Harness, single: ScenarioRun | None) -> float:
    """What one query takes with no other in the system: SingleStream's p99 when it ran in this
    mode, else the calibrated batch-1 call; plus the batcher's longest wait."""
    if single is not None and "99" in single.summary.latency_ms:
        base = single.summary.latency_ms["99"]
    else:
        base = harness.batch1_s * 1000.0
    return base + harness.config.server_max_wait_ms


def find_max_qps(
    harness: Harness, upper_qps: float, single: ScenarioRun | None = None, log: Log | None = None
) -> ServerSearch:
    config = harness.config
    floor = config.server_queries / TRIAL_CAP_S
    search = ServerSearch(
        mode=harness.mode, latency_bound_ms=config.latency_bound_ms, upper_qps=upper_qps,
        floor_qps=floor,
    )
    alone = alone_ms(harness, single)
    if alone > config.latency_bound_ms:
        search.stopped = (
            f"a query alone takes {alone:.1f} ms (p99 plus the {config.server_max_wait_ms:g} ms "
            f"batching wait), over the {config.latency_bound_ms:g} ms bound: no rate can meet it"
        )
        return search
    low, high = 0.0, upper_qps
    for step in range(1, config.server_search_steps + 1):
        qps = round((low + high) / 2.0, 2)
        if qps < floor:
            search.stopped = (
                f"the highest VALID rate is below {high:g} QPS; runs under {floor:.1f} QPS would "
                f"last over {TRIAL_CAP_S:g} s ({config.server_queries} queries each)"
            )
            break
        trial = harness.test("server", target_qps=qps, label=f"server-{qps:g}qps")
        search.trials.append(trial)
        verdict = "VALID" if trial.summary.valid else "INVALID"
        if log is not None:
            p99 = trial.summary.latency_ms.get("99", float("nan"))
            log(f"server ({harness.mode}) step {step}: {qps:g} QPS, p99 {p99:.2f} ms: {verdict}")
        if trial.summary.valid:
            low = qps
        else:
            high = qps
    best = search.best()
    search.max_qps = best.summary.target_qps if best is not None else None
    return search
