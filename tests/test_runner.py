"""Planning, isolation and failure handling of the runner."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from quantarena.config import RunConfig
from quantarena.errors import ConfigError
from quantarena.runner.isolate import _describe_exit, run_isolated, worker_env
from quantarena.runner.jobs import MeasureJob
from quantarena.runner.plan import choose_reference, plan_variants, run_order


def test_unknown_variants_and_knobs_fail_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="unknown toolchain 'onnxruntim'.*onnxruntime"):
        plan_variants(RunConfig(variants=["onnxruntim:int8"]))
    with pytest.raises(ConfigError, match="onnxruntime offers"):
        plan_variants(RunConfig(variants=["onnxruntime:int4"]))
    with pytest.raises(ConfigError, match="TOOLCHAIN:RECIPE"):
        plan_variants(RunConfig(variants=["int8"]))
    with pytest.raises(ConfigError, match="calibration_metod"):
        plan_variants(RunConfig(variants=["onnxruntime:int8"], recipes={"onnxruntime:int8": {"calibration_metod": "x"}}))
    with pytest.raises(ConfigError, match="not in the run"):
        plan_variants(RunConfig(variants=["onnxruntime:fp32"], recipes={"onnxruntime:int8": {}}))


def test_reference_is_pytorch_fp32_and_runs_first() -> None:
    planned = plan_variants(RunConfig(variants=["onnxruntime:int8", "onnxruntime:fp32", "pytorch:fp32"]))
    assert choose_reference(planned) == "pytorch:fp32"
    assert [p.name for p in run_order(planned, "pytorch:fp32")][0] == "pytorch:fp32"
    only_int8 = plan_variants(RunConfig(variants=["onnxruntime:int8"]))
    assert choose_reference(only_int8) is None


def test_worker_env_sets_every_thread_variable() -> None:
    env = worker_env(3, [0, 1])
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "3"
    assert env["QUANTARENA_PIN_CPUS"] == "0,1"
    assert env["MALLOC_MMAP_THRESHOLD_"] == env["MALLOC_TRIM_THRESHOLD_"] == "1000000000"


def test_system_malloc_leaves_glibc_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "5")
    env = worker_env(1, None, "system")
    assert "MALLOC_MMAP_THRESHOLD_" not in env and "MALLOC_TRIM_THRESHOLD_" not in env


def test_exit_descriptions(tmp_path: Path) -> None:
    assert "SIGSEGV" in _describe_exit(-signal.SIGSEGV, tmp_path / "none.log")
    assert "out of memory" in _describe_exit(-signal.SIGKILL, tmp_path / "none.log")
    log = tmp_path / "w.log"
    log.write_text("Traceback ...\nRuntimeError: boom\n")
    assert _describe_exit(1, log).endswith("RuntimeError: boom")


def _measure_job(tmp_path: Path, artifact: Path, evaluation: Path) -> MeasureJob:
    return MeasureJob(
        variant="onnxruntime:fp32", recipe={}, artifact=artifact, evaluation=evaluation, threads=1,
        measure=RunConfig().measure, accuracy=True, predictions_path=tmp_path / "p.npz",
    )


def test_corrupt_artifact_becomes_a_failed_outcome(tmp_path: Path, evaluation_images, cache_dir: Path) -> None:
    evaluation = next(cache_dir.glob("*.npy"))
    corrupt = tmp_path / "model.onnx"
    corrupt.write_bytes(b"\x08\x07garbage" * 100)
    outcome = run_isolated(_measure_job(tmp_path, corrupt, evaluation), tmp_path, "m", 1, None, 120)
    assert outcome.status == "failed"
    assert "ONNX Runtime cannot load model.onnx" in (outcome.reason or "")


def test_timeout_kills_the_worker(tmp_path: Path, evaluation_images, cache_dir: Path, mv2_bundle) -> None:
    evaluation = next(cache_dir.glob("*.npy"))
    outcome = run_isolated(_measure_job(tmp_path, mv2_bundle.onnx_path, evaluation), tmp_path, "m", 1, None, 0.5)
    assert outcome.status == "failed" and "timed out after" in (outcome.reason or "")


def test_skip_mode_drops_and_lists_corrupt_images(sample_dir: Path, tmp_path: Path, mv2_bundle) -> None:
    from quantarena.data.dataset import Sample, discover
    from quantarena.runner.pipeline import _usable_samples

    _, samples = discover(sample_dir)
    bad = tmp_path / "broken.JPEG"
    bad.write_bytes(b"not an image")
    mixed = [*samples[:3], Sample(bad, 1)]
    good, skipped = _usable_samples(mixed, mv2_bundle, "skip", lambda _: None)
    assert good == samples[:3] and len(skipped) == 1 and "broken.JPEG" in skipped[0]
    kept, none = _usable_samples(mixed, mv2_bundle, "error", lambda _: None)
    assert kept == mixed and none == []
