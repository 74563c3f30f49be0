"""The serving scenarios on a real ONNX Runtime session of the real MobileNetV2, driven by the real
MLPerf LoadGen over real sample images, at tiny durations: every scenario in both modes, the
Server search, LoadGen's accuracy mode against the accuracy pass, and what a failing SUT does."""

from __future__ import annotations

import itertools
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import EVALUATION_COUNT
from quantarena.data.cache import load_split
from quantarena.measure.accuracy import Predictions
from quantarena.results.scenarios import LoadgenSummary, Scenarios
from quantarena.serving import sut as sut_module
from quantarena.serving.accuracy import agreement, read_accuracy_log
from quantarena.serving.harness import OFFLINE_SLACK, Harness, ScenarioError, whole_batches_qps
from quantarena.serving.meter import jpeg_paths
from quantarena.serving.qsl import CachedImages, JpegFiles
from quantarena.serving.server_search import find_max_qps, idle_slowdown, queries_needed
from quantarena.serving.summary import SummaryError, parse_summary
from quantarena.serving.sut import top1_of
from serving_fixtures import TINY, evaluation, served, session

__all__ = ["evaluation", "served", "session"]  # fixtures, shared with the report's tests


def test_every_scenario_runs_in_both_modes(served: tuple[Scenarios, Path, Path]) -> None:
    scenarios, folder, _ = served
    for mode in ("compute", "end-to-end"):
        single = scenarios.run("single-stream", mode)
        multi = scenarios.run("multi-stream", mode)
        offline = scenarios.run("offline", mode)
        assert single and multi and offline
        assert single.summary.scenario == "SingleStream" and single.batches.keys() == {"1"}
        assert multi.summary.scenario == "MultiStream" and multi.batches.keys() == {"8"}
        assert offline.summary.samples_per_s and max(map(int, offline.batches)) <= 8
        assert "90" in single.summary.latency_ms and single.summary.checks
        for run in (single, multi, offline):
            # LoadGen's own logs stay beside the measurement, the summary path is relative
            summary = folder.parent / run.summary.summary_file
            assert summary.name == "mlperf_log_summary.txt" and summary.exists()
            assert (summary.parent / "mlperf_log_detail.txt").exists()
            assert run.inference_ms["count"] > 0 and run.contention is not None
            # every batch's inputs were timed apart from its call
            assert run.inputs_ms["count"] == run.inference_ms["count"] == sum(run.batches.values())
    e2e = scenarios.run("single-stream", "end-to-end")
    assert e2e is not None and e2e.preprocess_ms["count"] == sum(e2e.batches.values())
    assert scenarios.run("single-stream", "compute").preprocess_ms == {}  # type: ignore[union-attr]
    assert scenarios.end_to_end_extra_ms("90") is not None
    assert scenarios.preprocessing["threads"] == 2


def test_server_search_bisects_below_the_offline_rate(served: tuple[Scenarios, Path, Path]) -> None:
    scenarios, _, _ = served
    for mode in ("compute", "end-to-end"):
        search = scenarios.search(mode)
        assert search is not None
        # one rate per step; a rate run again with more queries only after early stopping asked
        rates = list(dict.fromkeys(t.summary.target_qps for t in search.trials))
        assert len(rates) == TINY.server_search_steps
        for earlier, later in itertools.pairwise(search.trials):
            if later.summary.target_qps == earlier.summary.target_qps:
                assert queries_needed(earlier.summary) is not None
        offline = scenarios.run("offline", mode)
        assert offline is not None and offline.summary.samples_per_s is not None
        assert search.upper_qps == pytest.approx(1.1 * offline.summary.samples_per_s)
        first, second = rates
        assert first == pytest.approx(search.upper_qps / 2, abs=0.01)
        # the second step moved up after a VALID run, down after an INVALID one
        first_verdict = [t for t in search.trials if t.summary.target_qps == first][-1]
        assert (second > first) == first_verdict.summary.valid  # type: ignore[operator]
        best = search.best()
        assert search.max_qps == (best.summary.target_qps if best else None)
        assert all(t.summary.scenario == "Server" and t.max_batch == 8 for t in search.trials)


def test_loadgen_accuracy_agrees_with_the_accuracy_pass(
    served: tuple[Scenarios, Path, Path],
) -> None:
    scenarios, _, _ = served
    assert [a.mode for a in scenarios.accuracy] == ["compute", "end-to-end"]
    assert all(a.ok and a.images == EVALUATION_COUNT for a in scenarios.accuracy)
    assert scenarios.failure() is None


def test_a_disagreeing_image_fails_the_variant(
    served: tuple[Scenarios, Path, Path], evaluation: Path, tmp_path: Path,
) -> None:
    scenarios, folder, predictions_path = served
    predictions = Predictions.load(predictions_path)
    top5 = predictions.top5.copy()
    top5[3, 0] = (top5[3, 0] + 1) % 1000
    doctored = tmp_path / "doctored.npz"
    Predictions(predictions.files, predictions.labels, top5).save(doctored)
    log = folder / "loadgen" / "compute" / "accuracy" / "mlperf_log_accuracy.json"
    check = agreement(log, doctored, load_split(evaluation), "compute")
    assert check.agree == EVALUATION_COUNT - 1 and not check.ok
    assert check.mismatches[0].startswith(predictions.files[3])
    failed = scenarios.model_copy(update={"accuracy": [check]})
    assert "disagrees with the accuracy pass on 1 of" in (failed.failure() or "")


def test_jpeg_library_decodes_exactly_what_the_cache_holds(
    evaluation: Path, sample_dir: Path, mv2_bundle: Any,
) -> None:
    split = load_split(evaluation)
    jpegs = JpegFiles(jpeg_paths(sample_dir, split.files), mv2_bundle.preprocessing, threads=2)
    cached = CachedImages(split)
    indices = [0, 5, 7]
    for library in (jpegs, cached):
        library.load(indices)
    try:
        assert np.array_equal(jpegs.inputs(indices), cached.inputs(indices))
        assert len(jpegs.preprocess_seconds) == 3 and cached.preprocess_seconds == []
    finally:
        jpegs.close()


def test_cached_library_gathers_from_one_store_without_fresh_arrays(evaluation: Path) -> None:
    split = load_split(evaluation)
    library = CachedImages(split)
    library.load([3, 1])
    library.load([1, 4, 2])  # a second load keeps the first one's samples
    order = [4, 1, 4, 3, 2]
    first = library.inputs(order)
    assert np.array_equal(first, np.asarray(split.images)[order])
    again = library.inputs([2, 3, 1, 4, 4])
    assert again is first  # one buffer per batch size, reused: no allocation per batch
    assert np.array_equal(again, np.asarray(split.images)[[2, 3, 1, 4, 4]])
    single = library.inputs([3])
    assert single.shape == (1, *split.images.shape[1:]) and single.flags.c_contiguous
    assert np.shares_memory(single, library.store)  # a batch of one is its row, not a copy
    assert np.array_equal(single[0], split.images[3])
    library.unload([1, 2, 3, 4])
    assert library.loaded == {} and len(library.store) == 0
    with pytest.raises(KeyError):
        library.inputs([1, 2])


def test_a_failing_session_ends_the_test_with_one_line(
    session: Any, evaluation: Path, tmp_path: Path,
) -> None:
    def breaks_on_batches(batch: np.ndarray) -> np.ndarray:
        if len(batch) > 1:
            raise RuntimeError("out of device memory\nsecond line")
        return np.asarray(session.run(batch))

    harness = Harness(
        run=breaks_on_batches, library=CachedImages(load_split(evaluation)), config=TINY,
        mode="compute", folder=tmp_path, root=tmp_path, eval_batch=8,
    )
    with pytest.raises(ScenarioError, match=r"multi-stream \(compute\).*RuntimeError: out of "
                       r"device memory$"):
        harness.test("multi-stream")


def test_back_to_back_queries_are_answered_on_the_sessions_own_thread(
    evaluation: Path, tmp_path: Path,
) -> None:
    """SingleStream is answered inline: LoadGen issues on the thread that started the test, so
    every call runs on the caller's thread, with no hand-over; Server still hands queries over
    (LoadGen on its side thread), yet its calls too run on the caller's thread."""
    threads: list[int] = []

    def run(batch: np.ndarray) -> np.ndarray:
        threads.append(threading.get_ident())
        return np.zeros((len(batch), 10), dtype=np.float32)

    harness = server_harness(evaluation, tmp_path, run, min_duration_s=0.2)
    single = harness.test("single-stream")
    assert single.idle == "inline" and single.batches == {"1": len(threads)} and threads
    server = harness.test("server", target_qps=50.0)
    assert server.idle == "sleep"
    assert set(threads) == {threading.get_ident()}


def test_many_sample_queries_are_answered_chunk_by_chunk_from_copied_logits(
    evaluation: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Accuracy mode (as Offline) ranks and answers a chunk of batches at once. A session may
    hand back the same output buffer on every call, so each batch's logits are copied as they
    return: every sample still gets its own image's class, across several chunks."""
    monkeypatch.setattr(sut_module, "ANSWER_CHUNK", 12)  # batches of 8: chunks of 16 samples
    split = load_split(evaluation)
    buffer = np.zeros((8, 10), dtype=np.float32)
    calls = itertools.count()

    def label(image: np.ndarray) -> int:
        return int(image.sum(dtype=np.float64) * 1000) % 10

    def run(batch: np.ndarray) -> np.ndarray:
        next(calls)
        buffer[:] = 0.0
        for row, image in enumerate(batch):
            buffer[row, label(image)] = 1.0
        return buffer[: len(batch)]  # the same memory every call

    expected = [label(image) for image in split.images]
    assert len(set(expected)) > 3  # the classes differ between batches
    log = server_harness(evaluation, tmp_path, run).accuracy()
    assert read_accuracy_log(log, len(split)).tolist() == expected
    assert next(calls) == -(-len(split) // 8)  # one call per batch of 8


def test_an_offline_query_is_whole_batches_so_no_call_is_padding(
    evaluation: Path, tmp_path: Path,
) -> None:
    """LoadGen sizes the Offline query from the expected QPS; raised to a multiple of the batch,
    every call is a full batch of real samples (a short last batch would be padded)."""
    def run(batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch), 10), dtype=np.float32)

    harness = server_harness(evaluation, tmp_path, run, min_duration_s=0.3)
    harness.offline_batch, harness.offline_qps = 8, 1234.5  # 407.4 samples: not whole batches
    offline = harness.test("offline")
    assert list(offline.batches) == ["8"] and offline.batches["8"] >= 51
    for qps, batch, seconds in itertools.product((3.3, 277.446, 1866.96, 1e5), (2, 8, 32, 64),
                                                 (0.3, 5.0, 600.0)):
        raised = whole_batches_qps(qps, batch, seconds)
        samples = math.floor(raised * seconds * OFFLINE_SLACK)
        assert samples % batch == 0 and raised >= qps and samples - qps * seconds * 1.1 < batch


@pytest.mark.parametrize(("scenario", "qps"), [("single-stream", None), ("server", 50.0)])
def test_an_interrupt_inside_a_query_ends_the_test_with_one_line(
    evaluation: Path, tmp_path: Path, scenario: str, qps: float | None,
) -> None:
    """An interrupt raised in the model while LoadGen is inside its test must neither unwind
    through LoadGen's C++ code (inline) nor leave LoadGen waiting for answers (queued): every
    query is still answered, the test ends, and the error names the interrupt."""
    calls = itertools.count()

    def run(batch: np.ndarray) -> np.ndarray:
        if next(calls) == 3:
            raise KeyboardInterrupt
        return np.zeros((len(batch), 10), dtype=np.float32)

    harness = server_harness(evaluation, tmp_path, run)
    with pytest.raises(ScenarioError, match=rf"{scenario} \(compute\).*KeyboardInterrupt"):
        harness.test(scenario, target_qps=qps)
    assert next(calls) == 4  # nothing ran the model after the interrupt


def test_official_settings_come_from_loadgen(evaluation: Path, tmp_path: Path) -> None:
    official = TINY.model_copy(update={"mlperf_official": True, "latency_bound_ms": 15.0})
    harness = Harness(
        run=lambda batch: batch, library=CachedImages(load_split(evaluation)), config=official,
        mode="compute", folder=tmp_path, root=tmp_path, eval_batch=8,
    )
    server = harness.settings("server", accuracy=False, target_qps=10.0)
    assert server.min_duration_ms == 600_000  # MLPerf's 10 minutes, not TINY's 0.3 s
    assert server.performance_sample_count_override == EVALUATION_COUNT  # 1024, capped
    assert server.server_target_latency_ns == 15_000_000 and server.server_target_qps == 10.0
    practical = Harness(
        run=lambda batch: batch, library=CachedImages(load_split(evaluation)), config=TINY,
        mode="compute", folder=tmp_path, root=tmp_path, eval_batch=8,
    ).settings("single-stream", accuracy=False, target_qps=None)
    assert practical.min_duration_ms == 300 and practical.min_query_count == 20


def test_a_summary_without_a_verdict_is_refused(tmp_path: Path) -> None:
    accuracy_only = tmp_path / "mlperf_log_summary.txt"
    # what LoadGen writes in accuracy mode
    accuracy_only.write_text("\nNo warnings encountered during test.\n")
    with pytest.raises(SummaryError, match="not a LoadGen summary"):
        parse_summary(accuracy_only)
    with pytest.raises(SummaryError, match="no readable summary"):
        parse_summary(tmp_path / "missing.txt")


def test_early_stopping_alone_failing_a_run_asks_for_the_queries_loadgen_names() -> None:
    def summary(valid: bool, measured_ok: bool, *reasons: str) -> LoadgenSummary:
        return LoadgenSummary(
            scenario="Server", mode="PerformanceOnly", valid=valid,
            checks={"Performance constraints satisfied": measured_ok,
                    "Early stopping satisfied": valid},
            reasons=list(reasons),
        )

    # LoadGen's words, from a Server run whose one 15.1 ms query failed early stopping
    short = summary(False, True, "Early stopping satisfied: NO", "Run unsuccessful.",
                    "Processed 600 queries.", "Would need to run at least 62 more queries, "
                    "with the run being successful if every additional query were under latency.")
    assert queries_needed(short) == 600 + 78  # a quarter more than LoadGen names
    # latencies over the bound: more queries cannot help; a VALID run needs none
    assert queries_needed(summary(False, False, "Processed 600 queries.",
                                  "Would need to run at least 853 more queries")) is None
    assert queries_needed(summary(True, True, "Run successful.")) is None


def server_harness(
    evaluation: Path, folder: Path, run: Any, harness: type[Harness] = Harness, **update: Any
) -> Harness:
    """A compute-mode harness over the cached split with ``run`` as the model: a 20 ms bound,
    one search step, 0.1 s runs, unless ``update`` says otherwise."""
    config = TINY.model_copy(update={"latency_bound_ms": 20.0, "server_search_steps": 1,
                                     "min_duration_s": 0.1, **update})
    return harness(run=run, library=CachedImages(load_split(evaluation)), config=config,
                   mode="compute", folder=folder, root=folder, eval_batch=8, batch1_s=0.001)


def test_a_run_short_of_queries_is_run_again_with_them(evaluation: Path, tmp_path: Path) -> None:
    """One stall over the bound in a short Server run: its p99 still meets the bound but LoadGen's
    early stopping cannot accept it; the search runs the rate again with the queries LoadGen
    names (enough for that one stall). That run meets two stalls and is extended once more; the
    third (no stall) is VALID, and its verdict counts."""
    calls = itertools.count()
    started = [0]

    class Counted(Harness):
        def test(self, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls, started[0] = itertools.count(), started[0] + 1
            return super().test(*args, **kwargs)

    stalls = {1: {5}, 2: {5, 60}}  # run -> its calls over the 20 ms bound

    def run(batch: np.ndarray) -> np.ndarray:
        if next(calls) in stalls.get(started[0], set()):
            time.sleep(0.0215)
        return np.zeros((len(batch), 10), dtype=np.float32)

    harness = server_harness(evaluation, tmp_path, run, Counted, server_queries=300)
    search = find_max_qps(harness, upper_qps=200.0)  # one step: 100 QPS
    first, second, third = search.trials
    assert {t.summary.target_qps for t in search.trials} == {100.0}
    for short in (first, second):
        assert not short.summary.valid and short.summary.checks["Performance constraints satisfied"]
    needed = queries_needed(second.summary)
    assert needed is not None and needed > (queries_needed(first.summary) or 0) > 300
    assert third.summary.valid and search.max_qps == 100.0
    # the last run served at least the queries asked for
    assert sum(int(size) * calls for size, calls in third.batches.items()) >= needed


def test_a_bound_no_query_can_meet_skips_the_search(evaluation: Path, tmp_path: Path) -> None:
    tight = TINY.model_copy(update={"latency_bound_ms": 0.5, "server_max_wait_ms": 2.0})
    harness = Harness(
        run=lambda batch: batch, library=CachedImages(load_split(evaluation)), config=tight,
        mode="compute", folder=tmp_path, root=tmp_path, eval_batch=8, batch1_s=0.004,
    )
    search = find_max_qps(harness, upper_qps=200.0)
    assert search.trials == [] and search.max_qps is None
    assert search.stopped is not None and "a query alone takes 6.0 ms" in search.stopped
    assert not list(tmp_path.iterdir())  # no LoadGen run was started


def test_a_session_slower_after_idle_gaps_gets_the_note(evaluation: Path, tmp_path: Path) -> None:
    """A session whose call after an idle gap takes 25 ms (a runtime whose threads sleep
    between sparse queries) and 1 ms back to back: at 20 QPS (gaps of ~50 ms) nearly every call
    is over the 20 ms bound, no rate tried is VALID, and the search says why lower rates were
    not easier, with the measured slowdown."""
    last = [0.0]

    def run(batch: np.ndarray) -> np.ndarray:
        now = time.perf_counter()
        time.sleep(0.025 if now - last[0] > 0.004 else 0.001)
        last[0] = time.perf_counter()
        return np.zeros((len(batch), 10), dtype=np.float32)

    harness = server_harness(evaluation, tmp_path, run, server_queries=100)
    search = find_max_qps(harness, upper_qps=40.0)  # one step: 20 QPS
    assert search.max_qps is None
    assert search.idle_note is not None and search.idle_note.startswith("at 20 QPS its calls")
    assert "slows after idle gaps" in search.idle_note
    assert "--server-idle spin" in search.idle_note  # the SUT slept: name the remedy
    assert idle_slowdown(16.2, 6.37, 2.71) is not None  # PT2E, measured
    spun = idle_slowdown(16.2, 6.37, 2.71, spun=True)
    assert spun is not None and "--server-idle" not in spun  # already spinning
    assert idle_slowdown(100.0, 1.2, 1.0) is None  # 1.2x: no note


@pytest.mark.parametrize("idle", ["sleep", "spin"])
def test_a_spinning_server_keeps_its_core_busy_between_queries(
    evaluation: Path, tmp_path: Path, idle: str
) -> None:
    """At 20 QPS a 1 ms model leaves the serving thread idle ~95% of the time: sleeping on the
    queue it uses almost no CPU; spinning it uses CPU for most of the run's wall time, the runs
    are recorded as such, and both meet the bound at the same latency (the polls hand the GIL
    to LoadGen's issuing thread, so queries are not held up)."""

    def run(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.001)
        return np.zeros((len(batch), 10), dtype=np.float32)

    harness = server_harness(evaluation, tmp_path, run, server_queries=40, latency_bound_ms=30.0,
                             min_duration_s=1.0, server_idle=idle)
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    trial = harness.test("server", target_qps=20.0)
    busy = (time.thread_time() - cpu0) / (time.perf_counter() - wall0)
    assert trial.idle == idle
    # every query answered within the bound (40 queries are too few for early stopping's VALID)
    assert trial.summary.checks["Performance constraints satisfied"]
    # a 1 ms model answers in ~1.1 ms: the hand-over did not wait for the GIL's 5 ms switch
    assert trial.summary.latency_ms["50"] < 3.0
    if idle == "spin":
        assert busy > 0.5
    else:
        assert busy < 0.3
    server = harness.knobs("server", accuracy=False)
    assert server.spin == (idle == "spin") and not server.inline  # arrivals must not wait
    # every other test is answered inline, on LoadGen's issuing thread: nothing waits or spins
    for scenario, accuracy in [("single-stream", False), ("multi-stream", False),
                               ("offline", False), ("server", True)]:
        knobs = harness.knobs(scenario, accuracy=accuracy)
        assert knobs.inline and not knobs.spin, scenario



def test_top1_ranks_exactly_as_the_accuracy_pass_ties_and_nan_included() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((64, 1000)).astype(np.float32)
    logits[3, [10, 700]] = 50.0  # a tie at the top: argsort's own pick must win
    logits[5, [2, 3, 4]] = logits[5].max() + 1.0
    logits[7, 11] = np.nan
    logits[9] = 0.0  # every class tied
    logits[12, 0] = np.inf
    assert np.array_equal(top1_of(logits), np.argsort(-logits, axis=1)[:, 0])
    ranked = top1_of(logits)
    assert ranked[12] == 0 and ranked[0] == int(np.argmax(logits[0]))
