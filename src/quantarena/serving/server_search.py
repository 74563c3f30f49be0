"""The Server search: the highest Poisson arrival rate (target QPS) at which LoadGen calls the run
VALID, i.e. its p99 latency stays within the bound and its early-stopping rule accepts it.

Bisection between 0 and (a little above) the Offline rate of the same mode: no arrival rate can be
served faster than the SUT's best batched throughput. Each step is one full LoadGen Server run,
kept with its summary; after ``steps`` runs the answer is known to within ``upper / 2**steps``.

A run whose measured latencies met the bound but whose early-stopping check failed is LoadGen
saying it saw too few queries to be sure (at a p99 bound, a few hundred queries tolerate no query
over it, so one stall decides). LoadGen's summary names how many more it needs; the search runs
that rate again with that many more queries (plus a quarter), if the run still fits the time cap,
and keeps every run. The longer run meets stalls of its own (measured: PT2E on a 2-core EPYC at
70 QPS, p99 9.8 ms at 600 queries and 13.8 ms at 669, early stopping failing both), so this is
repeated up to ``EXTENSIONS`` times while early stopping alone fails. Only the verdict of the
last run counts.

Two limits keep the search honest and finite. A query served alone already takes its SingleStream
p99 plus the batcher's longest wait; when that exceeds the bound no rate can be VALID, and the
search says so instead of running. And a run lasts at least ``server_queries / QPS`` seconds, so
rates whose run would last over ``TRIAL_CAP_S`` are not tried: the answer is then "below" them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from quantarena.results.scenarios import LoadgenSummary, ScenarioRun, ServerSearch
from quantarena.serving.harness import Harness

Log = Callable[[str], None]
#: longest a single Server run of the search may last (its query count at its rate)
TRIAL_CAP_S = 60.0
#: calls at the lowest tried rate this many times slower than back to back get a note
IDLE_SLOWDOWN = 1.5
#: most re-runs of one rate with the queries LoadGen's early stopping asks for
EXTENSIONS = 2
#: margin on the queries early stopping asks for: the longer run meets stalls of its own
QUERY_MARGIN = 1.25


_PROCESSED = re.compile(r"Processed (\d+) queries")
_MORE = re.compile(r"Would need to run at least (\d+) more queries")
#: the checks whose failure more queries cannot cure (the rest: min duration, early stopping)
_MEASURED = "Performance constraints satisfied"


def queries_needed(summary: LoadgenSummary) -> int | None:
    """The query count LoadGen's early stopping asks for when it alone failed the run (the
    latencies measured met the bound), with ``QUERY_MARGIN`` on the extra queries; else
    ``None``."""
    if summary.valid or not summary.checks.get(_MEASURED, False):
        return None
    text = " ".join(summary.reasons)
    processed, more = _PROCESSED.search(text), _MORE.search(text)
    if processed is None or more is None:
        return None
    return int(processed.group(1)) + math.ceil(int(more.group(1)) * QUERY_MARGIN)


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
        _say(log, harness, step, qps, trial, "")
        for _ in range(EXTENSIONS):
            more = queries_needed(trial.summary)
            if more is None or more / qps > TRIAL_CAP_S:
                break
            trial = harness.test("server", target_qps=qps, label=f"server-{qps:g}qps-{more}q",
                                 queries=more)
            search.trials.append(trial)
            _say(log, harness, step, qps, trial, f" with {more} queries (early stopping)")
        if trial.summary.valid:
            low = qps
        else:
            high = qps
    best = search.best()
    search.max_qps = best.summary.target_qps if best is not None else None
    lowest = min(search.trials, key=lambda t: t.summary.target_qps or math.inf, default=None)
    if best is None and lowest is not None and "p50" in lowest.inference_ms:
        search.idle_note = idle_slowdown(
            lowest.summary.target_qps or 0.0, lowest.inference_ms["p50"],
            harness.batch1_s * 1000.0, spun=lowest.idle == "spin",
        )
    return search


def idle_slowdown(
    qps: float, call_p50_ms: float, back_to_back_ms: float, *, spun: bool = False
) -> str | None:
    """Why a search that found no VALID rate may have missed one: the session's calls at the
    lowest rate tried were much slower than back to back. Bisection assumes a lower rate is
    easier; a runtime whose threads sleep between sparse queries (measured: PT2E on a 2-core
    EPYC, 6.4 ms median calls at 16 QPS against 2.7 ms back to back) breaks that, and its VALID
    rates, if any, lie in a band the halving steps can jump over. When the SUT slept between
    queries the note names the setting that keeps its core busy (``server_idle``)."""
    if back_to_back_ms <= 0 or call_p50_ms < IDLE_SLOWDOWN * back_to_back_ms:
        return None
    return (
        f"at {qps:g} QPS its calls took {call_p50_ms:.2f} ms at the median, "
        f"{call_p50_ms / back_to_back_ms:.1f}x the {back_to_back_ms:.2f} ms of back-to-back "
        "calls: it slows after idle gaps, so lower rates were not easier, and the bisection "
        "(which assumes they are) may have stepped over VALID rates in between"
        + ("" if spun else "; --server-idle spin keeps the serving core busy between queries")
    )


def _say(log: Log | None, harness: Harness, step: int, qps: float, trial: ScenarioRun,
         how: str) -> None:
    if log is None:
        return
    verdict = "VALID" if trial.summary.valid else "INVALID"
    p99 = trial.summary.latency_ms.get("99", float("nan"))
    log(f"server ({harness.mode}) step {step}: {qps:g} QPS{how}, p99 {p99:.2f} ms: {verdict}")
