"""Serving-scenario measurements: what MLPerf LoadGen measured on one variant, typed.

A ``LoadgenSummary`` is LoadGen's own ``mlperf_log_summary.txt`` read into fields (its verdict and
the checks behind it kept word for word); the file itself stays in the run folder beside the
detail log. ``Scenarios`` is the variant's block: every scenario run per mode (compute-only or end
to end), the Server search for the highest QPS LoadGen calls VALID under the latency bound, and
the accuracy-mode check against the accuracy pass. Only pydantic here: reading needs no LoadGen.
"""

from __future__ import annotations

from typing import Any

from quantarena.results.measurements import CONTENTION_PERCENT, Block, Contention


class LoadgenSummary(Block):
    """One LoadGen test as its summary file states it. Latencies in ms."""

    scenario: str  # LoadGen's name: SingleStream, MultiStream, Offline, Server
    mode: str  # PerformanceOnly | AccuracyOnly
    valid: bool
    #: "Min duration satisfied" ... -> True/False, as LoadGen printed them
    checks: dict[str, bool] = {}
    #: why the verdict is what it is: the failed checks, LoadGen's recommendations and its
    #: early-stopping lines
    reasons: list[str] = []
    #: the scenario's headline: "90.0th percentile latency (ns)" / "Samples per second" ...
    metric: str = ""
    metric_value: float | None = None
    samples_per_s: float | None = None  # completed (Server, Offline) or QPS (SingleStream)
    latency_ms: dict[str, float] = {}  # "min", "mean", "max", "50", "90", "99" ...
    early_stopping_ms: dict[str, float] = {}  # percentile -> LoadGen's early-stopping estimate
    target_qps: float | None = None
    summary_file: str = ""  # relative to the run folder


class ScenarioRun(Block):
    """One scenario in one mode: LoadGen's summary and what the SUT saw."""

    scenario: str  # single-stream | multi-stream | offline | server
    mode: str  # compute | end-to-end
    summary: LoadgenSummary
    max_batch: int
    max_wait_ms: float
    #: how queries reached the model: "inline" (answered on LoadGen's issuing thread), or
    #: queued to the serving thread, which "sleep"s on its queue or "spin"s polling it
    idle: str = "sleep"
    batches: dict[str, int] = {}  # batch size -> calls
    #: end to end: per-image preprocessing time inside the timed path (p50, p90, mean)
    preprocess_ms: dict[str, float] = {}
    #: the session call alone, per batch (p50, p90, mean): with ``preprocess_ms``, where a
    #: query's time went
    inference_ms: dict[str, float] = {}
    #: building each batch's inputs before its call (p50, p90, mean, count): gathering the
    #: cached images (compute) or decoding them (end to end), per batch
    inputs_ms: dict[str, float] = {}
    #: other processes' CPU use while LoadGen ran this test
    contention: Contention | None = None


class ServerSearch(Block):
    """The bisection for the highest target QPS whose Server run LoadGen calls VALID."""

    mode: str
    latency_bound_ms: float
    upper_qps: float  # where the search started: the Offline rate of the same mode
    trials: list[ScenarioRun] = []
    max_qps: float | None = None  # None: no tried QPS was VALID
    #: rates below this were not tried (their run would last too long)
    floor_qps: float | None = None
    #: why the search ended before its last step, or never ran
    stopped: str | None = None
    #: when no rate was VALID and the calls at the lowest rate ran much slower than back to
    #: back: the runtime slows after idle gaps, so lower rates were not easier (see
    #: ``server_search.idle_slowdown``)
    idle_note: str | None = None

    def best(self) -> ScenarioRun | None:
        valid = [t for t in self.trials if t.summary.valid and t.summary.target_qps is not None]
        return max(valid, key=lambda t: t.summary.target_qps or 0.0, default=None)


class AccuracyAgreement(Block):
    """LoadGen's accuracy mode against the accuracy pass, image by image."""

    mode: str
    images: int
    agree: int
    top1: float
    mismatches: list[str] = []  # up to 10: "file: accuracy pass 207, LoadGen 208"

    @property
    def ok(self) -> bool:
        return self.agree == self.images


class Scenarios(Block):
    """Every serving measurement of a variant, and the settings they ran under."""

    settings: dict[str, Any] = {}
    preprocessing: dict[str, Any] = {}  # library, versions, threads (end to end)
    runs: list[ScenarioRun] = []
    server: list[ServerSearch] = []
    accuracy: list[AccuracyAgreement] = []

    def run(self, scenario: str, mode: str) -> ScenarioRun | None:
        return next((r for r in self.runs if r.scenario == scenario and r.mode == mode), None)

    def search(self, mode: str) -> ServerSearch | None:
        return next((s for s in self.server if s.mode == mode), None)

    def end_to_end_extra_ms(self, percentile: str = "90") -> float | None:
        """SingleStream end-to-end minus compute-only latency at ``percentile``: the response
        time preprocessing adds."""
        compute, e2e = self.run("single-stream", "compute"), self.run("single-stream", "end-to-end")
        if compute is None or e2e is None:
            return None
        a, b = compute.summary.latency_ms.get(percentile), e2e.summary.latency_ms.get(percentile)
        return None if a is None or b is None else b - a

    def failure(self) -> str | None:
        """A LoadGen accuracy run that disagrees with the accuracy pass fails the variant: the
        code measured in performance mode is then not the code that was scored."""
        for check in self.accuracy:
            if not check.ok:
                first = f" (first: {check.mismatches[0]})" if check.mismatches else ""
                return (
                    f"scenarios: LoadGen's accuracy run ({check.mode}) disagrees with the accuracy "
                    f"pass on {check.images - check.agree} of {check.images} images{first}"
                )
        return None

    def row_notes(self) -> list[str]:
        notes = []
        for run in self.runs:
            if not run.summary.valid:
                why = "; ".join(run.summary.reasons[:2]) or "see its summary"
                notes.append(f"LoadGen {run.scenario} ({run.mode}) INVALID: {why}")
        for run in [*self.runs, *(t for s in self.server for t in s.trials)]:
            busy = run.contention.others_cpu_percent if run.contention else 0.0
            if busy > CONTENTION_PERCENT:
                notes.append(
                    f"other processes used {busy:.0f}% of the CPU during LoadGen "
                    f"{run.summary.summary_file.rsplit('/', 2)[-2]} ({run.mode}): its figures may "
                    "be inflated"
                )
        for search in self.server:
            if search.stopped is not None:
                notes.append(f"Server ({search.mode}): {search.stopped}")
            elif search.max_qps is None:
                notes.append(
                    f"Server ({search.mode}): no tried QPS kept p99 within "
                    f"{search.latency_bound_ms:g} ms"
                )
            if search.idle_note is not None:
                notes.append(f"Server ({search.mode}): {search.idle_note}")
        return notes
