"""One LoadGen test on one variant: its ``TestSettings`` (practical or MLPerf's official), a
fresh SUT and QSL around the loaded session, LoadGen's logs in their own folder, and the summary
read back as a ``ScenarioRun``."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from quantarena.errors import QuantarenaError, first_line
from quantarena.measure.contention import ContentionWindow
from quantarena.results.measurements import Contention
from quantarena.results.scenarios import ScenarioRun
from quantarena.serving.config import ModeName, ScenarioConfig, ScenarioName
from quantarena.serving.qsl import SampleLibrary
from quantarena.serving.summary import parse_summary
from quantarena.serving.sut import BatchingSut, RunFn

LOADGEN_NAMES: dict[ScenarioName, str] = {
    "single-stream": "SingleStream",
    "multi-stream": "MultiStream",
    "offline": "Offline",
    "server": "Server",
}
#: the MLPerf model whose official settings ``mlperf_official`` loads (the ImageNet classifier)
OFFICIAL_MODEL = "resnet50"
#: LoadGen sizes its one Offline query as floor(expected QPS × minimum duration × this)
OFFLINE_SLACK = 1.1


class ScenarioError(QuantarenaError):
    """A LoadGen test could not run, or the SUT failed while serving it."""


class SutKnobs(NamedTuple):
    """How the SUT serves one test (see ``BatchingSut``)."""

    max_batch: int
    max_wait_s: float
    pad: bool
    spin: bool
    inline: bool


@dataclass
class Harness:
    """What every LoadGen test of one mode shares."""

    run: RunFn
    library: SampleLibrary
    config: ScenarioConfig
    mode: ModeName
    folder: Path  # LoadGen's logs go in sub-folders of this one
    root: Path  # summaries are recorded relative to this (the run folder)
    eval_batch: int
    #: the Offline batch size (``offline_batch``, or the throughput passes' fastest)
    offline_batch: int = 32
    #: seconds of one call at batch 1 and at the MultiStream size, and samples/s at the Offline
    #: batch (from ``calibrate``): LoadGen sizes its pre-generated queries from them
    batch1_s: float = 0.01
    multi_s: float = 0.05
    offline_qps: float = 100.0
    #: other processes' CPU use during the last test
    contention: Contention | None = None

    def calibrate(self) -> None:
        """Run every batch shape a test will use once (a compiled runtime may build code for a
        new shape on its first call: seconds that belong to warm-up, not to a query), then time
        a few calls of the exact serving path at batch 1, the MultiStream size and the Offline
        batch."""
        shapes = {1, self.config.multi_stream_samples, self.offline_batch, self.eval_batch}
        if "server" in self.config.scenarios:
            shapes |= set(range(1, self.config.server_max_batch + 1))
        for batch in sorted(shapes):
            self._time(batch, calls=0)
        self.batch1_s = self._time(1)
        self.multi_s = self._time(self.config.multi_stream_samples)
        self.offline_qps = self.offline_batch / self._time(self.offline_batch)

    def _time(self, batch: int, calls: int = 3) -> float:
        indices = [i % self.library.count for i in range(batch)]
        self.library.load(sorted(set(indices)))
        try:
            self.run(self.library.inputs(indices))  # warm-up of this shape
            start = time.perf_counter()
            for _ in range(calls):
                self.run(self.library.inputs(indices))
            return (time.perf_counter() - start) / max(calls, 1)
        finally:
            self.library.unload(sorted(set(indices)))
            self.library.preprocess_seconds.clear()

    def knobs(self, scenario: ScenarioName, accuracy: bool) -> SutKnobs:
        """How the SUT serves ``scenario``.

        SingleStream, MultiStream, Offline and LoadGen's accuracy mode are answered inline, on
        the thread LoadGen issues from, which is the session's own: LoadGen issues their next
        query only once the last is answered (or all at once), so a hand-over to another thread
        would only add a wake-up per query. Before, SingleStream's queries went through a queue
        to the serving thread, which put PT2E's SingleStream p90 7–19% above the batch-1 loop
        when that thread slept between queries (``benchmarks/scenario_vs_pass.py``). Server's
        arrivals must not wait for the model, so its queries are queued to the serving thread,
        which sleeps or spins between them as the user chose (``server_idle``).
        """
        if accuracy:
            return SutKnobs(self.eval_batch, 0.0, pad=True, spin=False, inline=True)
        if scenario == "server":
            return SutKnobs(self.config.server_max_batch, self.config.server_max_wait_ms / 1000.0,
                            pad=False, spin=self.config.server_idle == "spin", inline=False)
        if scenario == "multi-stream":
            return SutKnobs(self.config.multi_stream_samples, 0.0, pad=False, spin=False,
                            inline=True)
        if scenario == "offline":
            return SutKnobs(self.offline_batch, 0.0, pad=True, spin=False, inline=True)
        return SutKnobs(1, 0.0, pad=False, spin=False, inline=True)

    def settings(self, scenario: ScenarioName, *, accuracy: bool, target_qps: float | None,
                 queries: int | None = None) -> Any:
        """LoadGen's ``TestSettings``; ``queries`` raises the run's minimum query count (the
        Server search extends a run LoadGen's early stopping asked more queries of)."""
        import mlperf_loadgen as lg

        c = self.config
        ts = lg.TestSettings()
        name = LOADGEN_NAMES[scenario]
        if c.mlperf_official and ts.FromConfig("", OFFICIAL_MODEL, name, 0) != 0:
            raise ScenarioError(f"LoadGen could not load its official {name} settings")
        ts.scenario = getattr(lg.TestScenario, name)
        ts.mode = lg.TestMode.AccuracyOnly if accuracy else lg.TestMode.PerformanceOnly
        if not c.mlperf_official:
            ts.min_duration_ms = int(c.min_duration_s * 1000)
            ts.min_query_count = {
                "single-stream": c.single_stream_queries,
                "multi-stream": c.multi_stream_queries,
                "offline": 1,
                "server": c.server_queries,
            }[scenario]
            if queries is not None:
                ts.min_query_count = max(ts.min_query_count, queries)
        samples = ts.performance_sample_count_override or c.performance_samples
        ts.performance_sample_count_override = min(samples, self.library.count)
        # Under-estimates: LoadGen then pre-generates more queries than the minimum duration needs
        # (an over-estimate would leave the run short of it, and INVALID).
        ts.single_stream_expected_latency_ns = max(1, int(self.batch1_s * 0.5e9))
        ts.multi_stream_expected_latency_ns = max(1, int(self.multi_s * 0.5e9))
        ts.multi_stream_samples_per_query = c.multi_stream_samples
        ts.offline_expected_qps = whole_batches_qps(
            self.offline_qps * 1.5, self.offline_batch, ts.min_duration_ms / 1000.0)
        ts.server_target_latency_ns = int(c.latency_bound_ms * 1e6)
        if target_qps is not None:
            ts.server_target_qps = target_qps
        return ts

    def test(
        self, scenario: ScenarioName, *, target_qps: float | None = None, label: str | None = None,
        queries: int | None = None,
    ) -> ScenarioRun:
        """One performance test; its logs go to ``folder/<label or scenario>``."""
        out, sut = self._start(scenario, accuracy=False, target_qps=target_qps, label=label,
                               queries=queries)
        return ScenarioRun(
            scenario=scenario,
            mode=self.mode,
            summary=parse_summary(out / "mlperf_log_summary.txt", self.root),
            max_batch=sut.max_batch,
            max_wait_ms=sut.max_wait_s * 1000.0,
            idle=sut.idle,
            batches={str(k): v for k, v in sorted(sut.batches.items())},
            preprocess_ms=_spread_ms(self.library.preprocess_seconds),
            inference_ms=_spread_ms(sut.inference_seconds),
            inputs_ms=_spread_ms(sut.input_seconds),
            contention=self.contention,
        )

    def accuracy(self) -> Path:
        """LoadGen's accuracy mode (Offline, every image once, batches of the accuracy pass's
        size); returns its accuracy log."""
        out, _ = self._start("offline", accuracy=True, target_qps=None, label="accuracy",
                             queries=None)
        return out / "mlperf_log_accuracy.json"

    def _start(
        self, scenario: ScenarioName, *, accuracy: bool, target_qps: float | None,
        label: str | None, queries: int | None,
    ) -> tuple[Path, BatchingSut]:
        import mlperf_loadgen as lg

        knobs = self.knobs(scenario, accuracy)
        out = self.folder / (label or scenario)
        out.mkdir(parents=True, exist_ok=True)
        log = lg.LogSettings()
        log.log_output.outdir = str(out)
        log.log_output.copy_summary_to_stdout = False
        log.enable_trace = False
        settings = self.settings(scenario, accuracy=accuracy, target_qps=target_qps,
                                 queries=queries)
        sut = BatchingSut(
            self.run, self.library, max_batch=knobs.max_batch, max_wait_s=knobs.max_wait_s,
            pad=knobs.pad, spin=knobs.spin, inline=knobs.inline,
        )
        self.library.preprocess_seconds.clear()
        qsl = lg.ConstructQSL(
            self.library.count, settings.performance_sample_count_override,
            self.library.load, self.library.unload,
        )
        handle = lg.ConstructSUT(sut.issue, sut.flush)
        failed: list[BaseException] = []

        def drive() -> None:
            try:
                lg.StartTestWithLogSettings(handle, qsl, settings, log)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the measuring thread
                failed.append(exc)
            finally:
                sut.close()

        window = ContentionWindow()
        window.start()
        try:
            if sut.inline:
                drive()  # LoadGen issues on this thread, and the SUT answers as it issues
            else:
                loadgen = threading.Thread(target=drive, name="loadgen", daemon=True)
                loadgen.start()
                try:
                    sut.serve()  # inference on this thread, as every other meter's
                finally:
                    loadgen.join()
        finally:
            self.contention = window.stop()
            lg.DestroySUT(handle)
            lg.DestroyQSL(qsl)
        if failed:
            raise ScenarioError(
                f"{scenario} ({self.mode}): LoadGen stopped: {first_line(failed[0])}"
            )
        if sut.error is not None:
            raise ScenarioError(
                f"{scenario} ({self.mode}): the variant failed while serving: "
                f"{type(sut.error).__name__}: {first_line(sut.error)}"
            )
        return out, sut


def _spread_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    import numpy as np

    ms = np.asarray(seconds) * 1000.0
    return {
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "mean": float(ms.mean()),
        "count": float(len(ms)),
    }


def whole_batches_qps(qps: float, batch: int, min_duration_s: float) -> float:
    """The Offline expected QPS, raised just enough that LoadGen's query is whole batches.

    A query of any other size ends in a short batch, padded to the batch shape: one call's
    worth of padding that no throughput pass pays (PyTorch FP32 at batch 32 on a 2-core AMD EPYC
    with AVX-512 VNNI: a 216 ms call in a 10 s query, 2%). If LoadGen sizes the query
    otherwise (``--mlperf-official``'s minimum sample count), the last batch is padded as
    before."""
    if min_duration_s <= 0 or batch <= 1:
        return qps
    scale = min_duration_s * OFFLINE_SLACK
    samples = math.ceil(qps * scale / batch) * batch
    return (samples + 0.5) / scale
