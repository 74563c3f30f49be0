"""Real timing workers on the real ONNX Runtime FP32 MobileNetV2: they load once, time windows
on request, burn (almost) no CPU while waiting, fail in one line, die when killed, and leave
nothing behind; the interleaved phase pairs two real variants with workers kept loaded, or
starts one per window when memory is declared too small."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from quantarena.config import MeasureConfig, RunConfig
from quantarena.models.spec import ModelBundle
from quantarena.results.measurements import Latency, Memory
from quantarena.results.schema import Artifact, VariantResult
from quantarena.runner.interleave import Phase, load_workers
from quantarena.runner.launcher import Launcher
from quantarena.runner.plan import plan_variants
from quantarena.runner.timing_client import TimingFailed, TimingWorker
from quantarena.runner.timing_protocol import TimeRequest, TimingJob
from quantarena.toolchains import get_toolchain, parse_variant

pytestmark = pytest.mark.slow

#: CPU seconds a loaded worker may use in a second of waiting right after a window: a runtime's
#: threads spinning for a few milliseconds after work fit easily (ONNX Runtime's: ~0.03 s on a
#: 2-core AMD EPYC with AVX-512 VNNI, 0.05-0.06 s on one with AVX2 only); a spinning pool, a
#: second or more of CPU per thread, would not.
IDLE_CPU_BOUND_S = 0.15


def _launcher(tmp_path: Path, threads: int = 2, timeout: float = 120) -> Launcher:
    return Launcher(threads=threads, pin_cpus=None, malloc="steady", log_dir=tmp_path / "logs",
                    build_timeout=timeout, measure_timeout=timeout)


@pytest.fixture
def evaluation(evaluation_images: object, cache_dir: Path) -> Path:
    return next(cache_dir.glob("*.npy"))  # a cached split of real images


def _job(artifact: Path, evaluation: Path, variant: str = "onnxruntime:fp32") -> TimingJob:
    toolchain, recipe_name = parse_variant(variant)
    recipe = toolchain.parse_recipe(recipe_name)
    return TimingJob(recipe=recipe.to_payload(variant), artifact=artifact, evaluation=evaluation,
                     threads=2, warmup_max_seconds=1.0)


def test_a_loaded_worker_times_windows_and_waits_without_using_the_cpu(
    tmp_path: Path, mv2_bundle: ModelBundle, evaluation: Path
) -> None:
    worker = TimingWorker("onnxruntime:fp32", "ort", _job(mv2_bundle.onnx_path, evaluation),
                          _launcher(tmp_path))
    worker.start()
    try:
        ready = worker.wait_ready()
        assert ready.load_seconds > 0 and ready.warmup_calls >= 3 and ready.rss_mb > 50
        for _ in range(2):
            window = worker.window(TimeRequest(min_seconds=0.2, min_calls=5))
            assert window.calls >= 5 and window.seconds >= 0.2 and window.median_ms > 0
            assert window.cpu_s > 0.1  # it worked: two threads for 0.2 s
            before = worker.cpu_seconds()  # straight after the window: any spinning counts
            time.sleep(1.0)
            idle = worker.cpu_seconds() - before
            assert idle < IDLE_CPU_BOUND_S, f"a waiting worker used {idle:.3f} s of CPU in 1 s"
        pid = worker.pid
    finally:
        worker.close()
    assert worker.process is not None and worker.process.returncode == 0  # quit when asked
    assert pid is not None and not psutil.pid_exists(pid)
    assert "Traceback" not in worker.log_path.read_text()


def test_a_worker_that_cannot_load_says_why_in_one_line(
    tmp_path: Path, evaluation: Path
) -> None:
    corrupt = tmp_path / "model.onnx"
    corrupt.write_bytes(b"\x08\x07garbage" * 100)
    worker = TimingWorker("onnxruntime:fp32", "bad", _job(corrupt, evaluation),
                          _launcher(tmp_path))
    worker.start()
    try:
        with pytest.raises(TimingFailed, match="ONNX Runtime cannot load model.onnx") as caught:
            worker.wait_ready()
        assert len(str(caught.value).splitlines()) == 1
    finally:
        worker.close()


class _Recorded(TimingWorker):
    """A real timing worker that notes when it was started and when its load ended."""

    events: list[tuple[str, str]] = []

    def start(self) -> None:
        self.events.append(("start", self.slug))
        super().start()

    def wait_ready(self):  # type: ignore[no-untyped-def]
        try:
            return super().wait_ready()
        finally:
            self.events.append(("ready", self.slug))

    def close(self) -> None:
        self.events.append(("close", self.slug))
        super().close()

    def warm_up(self):  # type: ignore[no-untyped-def]
        ready = super().warm_up()
        self.events.append(("warm", self.slug))
        self.warmed = ready
        return ready


def test_workers_load_two_at_a_time_and_a_failed_variant_is_named(
    tmp_path: Path, mv2_bundle: ModelBundle, evaluation: Path
) -> None:
    corrupt = tmp_path / "model.onnx"
    corrupt.write_bytes(b"\x08\x07garbage" * 100)
    launcher = _launcher(tmp_path)
    events: list[tuple[str, str]] = []
    _Recorded.events = events
    good = _job(mv2_bundle.onnx_path, evaluation).model_copy(update={"warm_up_at_load": False})
    bad = _job(corrupt, evaluation).model_copy(update={"warm_up_at_load": False})
    groups = {
        "a": [_Recorded("a", f"a{i}", good, launcher) for i in range(2)],
        "b": [_Recorded("b", f"b{i}", bad, launcher) for i in range(2)],
        "c": [_Recorded("c", f"c{i}", good, launcher) for i in range(2)],
    }
    try:
        loading = load_workers(groups, at_once=2)
        failed = loading.failed
        assert list(failed) == ["b"] and "ONNX Runtime cannot load model.onnx" in failed["b"]
        # how each worker of a loaded variant got ready, none of the failed one's
        assert [(w.variant, w.worker) for w in loading.workers] == [("a", 0), ("a", 1),
                                                                    ("c", 0), ("c", 1)]
        for start in loading.workers:  # launch to loaded covers imports and the load
            assert start.started_s is not None and start.started_s > start.load_s > 0
            assert start.warmup_s > 0 and start.warmup_calls >= 3 and start.rss_mb > 50
        loading: set[str] = set()
        most = 0
        for kind, slug in events:  # a load ends when its worker is ready, failed or closed
            (loading.add if kind == "start" else loading.discard)(slug)
            most = max(most, len(loading))
        assert most == 2  # two loads overlapped, never three
        assert ("close", "b1") in events  # the failed variant's other worker, stopped at once
        # warm-ups come after every load, one at a time, none for the failed variant
        warms = [i for i, (kind, _) in enumerate(events) if kind == "warm"]
        assert [events[i][1] for i in warms] == ["a0", "a1", "c0", "c1"]
        loaded = {slug: i for i, (kind, slug) in reversed(list(enumerate(events)))
                  if kind == "ready"}  # each worker's first ready: its load
        assert min(warms) > max(loaded.values())
        assert all(w.warmed.warmup_calls >= 3 for w in groups["a"] + groups["c"])
        assert [slug for kind, slug in events if kind == "start"] == ["a0", "a1", "b0", "b1",
                                                                     "c0", "c1"]
        for worker in groups["a"] + groups["c"]:  # every worker of a loaded variant is ready
            assert worker.window(TimeRequest(min_seconds=0.0, min_calls=2)).calls == 2
    finally:
        for workers in groups.values():
            for worker in workers:
                worker.close()
    assert not _timing_workers(tmp_path)


def test_a_worker_killed_mid_run_is_a_failure_and_its_group_is_gone(
    tmp_path: Path, mv2_bundle: ModelBundle, evaluation: Path
) -> None:
    worker = TimingWorker("onnxruntime:fp32", "ort", _job(mv2_bundle.onnx_path, evaluation),
                          _launcher(tmp_path))
    worker.start()
    try:
        worker.wait_ready()
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(TimingFailed, match=r"killed \(SIGKILL"):
            worker.window(TimeRequest(min_seconds=0.1, min_calls=3))
    finally:
        worker.close()
    assert worker.cpu_seconds() == 0.0


def _row(name: str, artifact: Path, peak_mb: float = 300.0) -> VariantResult:
    toolchain, _, _ = name.partition(":")
    latency = Latency.from_samples([0.002] * 10, batch=1, seconds=0.02, stop_reason="ci_target",
                                   warmup_iterations=3, warmup_stable=True)
    return VariantResult(name=name, toolchain=toolchain, precision="fp32", status="ok",
                         artifact=Artifact(path=str(artifact), size_mb=1.0, files=[]),
                         latency_ms=latency, memory=Memory(peak_rss_mb=peak_mb))


@pytest.fixture(scope="module")
def dynamic_int8(mv2_bundle: ModelBundle, calibration_images: object,
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    toolchain = get_toolchain("onnxruntime")
    recipe = toolchain.parse_recipe("int8-dynamic")
    built = toolchain.build(mv2_bundle, recipe, calibration_images,  # type: ignore[arg-type]
                            tmp_path_factory.mktemp("dynamic"))
    return built.artifact


def _phase(tmp_path: Path, evaluation: Path, available_mb: float | None,
           lines: list[str], rounds_max: int) -> tuple[Phase, list[str]]:
    variants = ["onnxruntime:fp32", "onnxruntime:int8-dynamic"]
    measure = MeasureConfig(rounds_window_seconds=0.1, rounds_window_calls=3,
                            rounds_max_seconds=30, rounds_max=rounds_max, warmup_max_seconds=1)
    config = RunConfig(variants=variants, threads=2, measure=measure)
    phase = Phase(config=config, launcher=_launcher(tmp_path), evaluation=evaluation,
                  out=tmp_path, log=lines.append, available_mb=available_mb)
    return phase, variants


def _timing_workers(out: Path) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"])
            if "quantarena.runner.timing_worker" in " ".join(p.info["cmdline"] or [])
            and str(out) in " ".join(p.info["cmdline"] or [])]


@pytest.mark.parametrize("available_mb", [None, 100.0], ids=["loaded", "fallback"])
def test_the_phase_pairs_two_real_variants(
    available_mb: float | None, tmp_path: Path, mv2_bundle: ModelBundle, evaluation: Path,
    dynamic_int8: Path,
) -> None:
    lines: list[str] = []
    phase, names = _phase(tmp_path, evaluation, available_mb, lines,
                          rounds_max=6 if available_mb is None else 3)
    planned = plan_variants(phase.config)
    rows = {names[0]: _row(names[0], mv2_bundle.onnx_path),
            names[1]: _row(names[1], dynamic_int8)}
    block = phase.run(planned, rows, names[0], {n: names[0] for n in names})
    assert block is not None, lines
    assert not _timing_workers(tmp_path)  # every worker stopped
    assert block.failed == {} and block.variants == names and block.reference == names[0]
    assert block.stop_reason in {"converged", "max_rounds", "time_cap"}
    assert all(len(ms) == block.rounds for ms in block.medians_ms.values())
    assert all(sorted(order) == sorted(names) for order in block.order)
    assert len(block.machine.samples) == block.rounds
    (pair,) = block.speedups  # vs the reference, which is also the baseline: stored once
    assert pair.baseline == names[0] and pair.variant == names[1] and pair.speedup is not None
    assert block.load_seconds > 0 and block.seconds > 0
    if available_mb is None:
        assert block.fallback is None and block.rounds >= 5
        # two processes per variant (the default), taking turns: both were loaded and timed
        assert block.workers_per_variant == 2 and "2 timing worker(s) per variant" in lines[0]
        logs = phase.launcher.log_dir
        for slug in ("onnxruntime_fp32", "onnxruntime_int8-dynamic"):
            assert all((logs / f"{name}.timing.job.json").exists()
                       for name in (slug, f"{slug}.1"))
        assert all(spent[n] < IDLE_CPU_BOUND_S for spent in block.waiting_cpu_s for n in spent)
        assert sorted((w.variant, w.worker) for w in block.workers) == sorted(
            (n, turn) for n in names for turn in (0, 1))
        line = block.loading_line()
        assert line is not None and line.startswith("timing workers slowest to load: ")
    else:
        assert block.fallback is not None and "100 MB is available" in block.fallback
        assert "starting each worker afresh per window" in lines[0]
        assert block.rounds == 3 and "timing workers were started afresh" in block.notes()[1]
        assert block.workers_per_variant == 1
        assert block.workers == [] and block.loading_line() is None  # none kept loaded


def test_fewer_than_two_timed_variants_make_no_rounds(
    tmp_path: Path, mv2_bundle: ModelBundle, evaluation: Path
) -> None:
    lines: list[str] = []
    phase, names = _phase(tmp_path, evaluation, None, lines, rounds_max=3)
    rows = {names[0]: _row(names[0], mv2_bundle.onnx_path)}
    assert phase.run(plan_variants(phase.config), rows, names[0], {}) is None
    assert lines == ["interleaved rounds skipped: fewer than two variants measured speed"]
    off = Phase(config=phase.config.model_copy(
        update={"measure": phase.config.measure.model_copy(update={"interleave": False})}),
        launcher=phase.launcher, evaluation=evaluation, out=tmp_path, log=lines.append)
    assert off.run(plan_variants(phase.config), rows, names[0], {}) is None
