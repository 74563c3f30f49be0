"""The Server search: the highest Poisson arrival rate (target QPS) at which LoadGen calls the run
VALID, i.e. its p99 latency stays within the bound and its early-stopping rule accepts it.

Bisection between 0 and the Offline rate of the same mode (no arrival rate can be served faster
than the SUT's best batched throughput). Each step is one full LoadGen Server run, kept with its
summary; after ``steps`` runs the answer is known to within ``upper / 2**steps``.
"""

from __future__ import annotations

from collections.abc import Callable

from quantarena.results.scenarios import ScenarioRun, ServerSearch
from quantarena.serving.harness import Harness

Log = Callable[[str], None]


def find_max_qps(harness: Harness, upper_qps: float, log: Log | None = None) -> ServerSearch:
    config = harness.config
    search = ServerSearch(
        mode=harness.mode, latency_bound_ms=config.latency_bound_ms, upper_qps=upper_qps
    )
    low, high = 0.0, upper_qps
    for step in range(1, config.server_search_steps + 1):
        qps = round((low + high) / 2.0, 2)
        trial: ScenarioRun = harness.test("server", target_qps=qps, label=f"server-{qps:g}qps")
        search.trials.append(trial)
        verdict = "VALID" if trial.summary.valid else "INVALID"
        if log is not None:
            p99 = trial.summary.latency_ms.get("99")
            log(f"server ({harness.mode}) step {step}: {qps:g} QPS, p99 {p99} ms: {verdict}")
        if trial.summary.valid:
            low = qps
        else:
            high = qps
    best = search.best()
    search.max_qps = best.summary.target_qps if best is not None else None
    return search
