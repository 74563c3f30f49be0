"""Planning, isolation and failure handling of the runner."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from quantarena.config import RunConfig
from quantarena.errors import ConfigError
from quantarena.runner.jobs import MeasureJob
from quantarena.runner.launcher import STEADY_MALLOC_BYTES, Launcher, describe_exit, worker_env
from quantarena.runner.plan import baseline_of, choose_reference, plan_variants, run_order
from quantarena.toolchains import get_toolchain, recipe_from_payload


def test_unknown_variants_and_knobs_fail_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="unknown toolchain 'onnxruntim'.*onnxruntime"):
        plan_variants(RunConfig(variants=["onnxruntim:int8"]))
    with pytest.raises(ConfigError, match="onnxruntime offers"):
        plan_variants(RunConfig(variants=["onnxruntime:int4"]))
    with pytest.raises(ConfigError, match="TOOLCHAIN:RECIPE"):
        plan_variants(RunConfig(variants=["int8"]))
    with pytest.raises(ConfigError, match="calibration_metod"):
        plan_variants(
            RunConfig(
                variants=["onnxruntime:int8"],
                recipes={"onnxruntime:int8": {"calibration_metod": "x"}},
            )
        )
    with pytest.raises(ConfigError, match="not in the run"):
        plan_variants(RunConfig(variants=["onnxruntime:fp32"], recipes={"onnxruntime:int8": {}}))


def test_reference_comes_from_the_declared_ranks_and_runs_first() -> None:
    planned = plan_variants(
        RunConfig(
            variants=["onnxruntime:int8", "openvino:fp32", "onnxruntime:fp32", "pytorch:fp32"]
        )
    )
    assert choose_reference(planned) == "pytorch:fp32"
    assert [p.name for p in run_order(planned, "pytorch:fp32")][0] == "pytorch:fp32"
    without_torch = plan_variants(RunConfig(variants=["openvino:fp32", "onnxruntime:fp32"]))
    assert (
        choose_reference(without_torch) == "onnxruntime:fp32"
    )  # rank 1 beats rank 2 whatever the order
    only_int8 = plan_variants(RunConfig(variants=["onnxruntime:int8", "tensorrt:int8-simulated"]))
    assert choose_reference(only_int8) is None


def test_speedup_baseline_is_the_toolchains_declared_recipe() -> None:
    planned = plan_variants(
        RunConfig(variants=["onnxruntime:int8", "onnxruntime:fp32", "openvino:int8"])
    )
    by_name = {p.name: p for p in planned}
    assert baseline_of(by_name["onnxruntime:int8"], planned) == "onnxruntime:fp32"
    assert baseline_of(by_name["onnxruntime:fp32"], planned) == "onnxruntime:fp32"
    assert baseline_of(by_name["openvino:int8"], planned) is None  # openvino:fp32 is not in the run


def test_recipes_cross_the_process_boundary_typed_and_versioned() -> None:
    toolchain = get_toolchain("onnxruntime")
    recipe = toolchain.parse_recipe("int8", {"calibration_method": "entropy"})
    payload = recipe.to_payload("onnxruntime:int8")
    assert payload.type == type(recipe).__name__ and payload.version == type(recipe).version
    again_toolchain, again = recipe_from_payload(
        payload.model_validate_json(payload.model_dump_json())
    )
    assert again_toolchain is toolchain and again == recipe
    with pytest.raises(ConfigError, match="recipe version 99"):
        recipe_from_payload(payload.model_copy(update={"version": 99}))
    with pytest.raises(ConfigError, match="is not"):
        recipe_from_payload(payload.model_copy(update={"type": "os.system"}))


def test_worker_env_sets_every_thread_variable() -> None:
    env = worker_env(3, [0, 1])
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "3"
    assert env["QUANTARENA_PIN_CPUS"] == "0,1"
    assert env["MALLOC_MMAP_THRESHOLD_"] == env["MALLOC_TRIM_THRESHOLD_"] == STEADY_MALLOC_BYTES


#: Four 384 MiB buffers allocated and freed per call: a heap swing of 1.5 GiB, as PT2E's exact
#: twin makes at batch 32. Prints the page faults of each call after the first.
_HEAP_SWING = """
import resource, numpy as np
for call in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffers = [np.ones(384 << 18, dtype=np.float32) for _ in range(4)]
    del buffers
    if call:
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults_per_call(env: dict[str, str]) -> list[int]:
    done = subprocess.run([sys.executable, "-c", _HEAP_SWING], env=env, capture_output=True,
                          text=True, check=True, timeout=120)
    return [int(line) for line in done.stdout.split()]


def test_steady_malloc_keeps_a_heap_swing_of_over_a_gigabyte_mapped() -> None:
    """Freed buffers stay in the heap, however large the swing: the second and later calls fault
    no page in (with a 1 GB trim threshold, glibc gave the heap back after every such call).
    glibc's defaults, which map each large buffer on its own, fault on every call."""
    assert _faults_per_call(worker_env(1, None, "steady")) == [0, 0, 0]
    assert min(_faults_per_call(worker_env(1, None, "system"))) > 1000


def test_system_malloc_leaves_glibc_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "5")
    env = worker_env(1, None, "system")
    assert "MALLOC_MMAP_THRESHOLD_" not in env and "MALLOC_TRIM_THRESHOLD_" not in env


def test_exit_descriptions(tmp_path: Path) -> None:
    assert "SIGSEGV" in describe_exit(-signal.SIGSEGV, tmp_path / "none.log")
    assert "out of memory" in describe_exit(-signal.SIGKILL, tmp_path / "none.log")
    log = tmp_path / "w.log"
    log.write_text("Traceback ...\nRuntimeError: boom\n")
    assert describe_exit(1, log).endswith("RuntimeError: boom")


def _launcher(tmp_path: Path, measure_timeout: float = 120) -> Launcher:
    return Launcher(
        threads=1,
        pin_cpus=None,
        malloc="steady",
        log_dir=tmp_path,
        build_timeout=120,
        measure_timeout=measure_timeout,
    )


def _measure_job(tmp_path: Path, bundle: Path, artifact: Path, evaluation: Path) -> MeasureJob:
    recipe = get_toolchain("onnxruntime").parse_recipe("fp32")
    return MeasureJob(
        recipe=recipe.to_payload("onnxruntime:fp32"),
        bundle=bundle,
        artifact=artifact,
        evaluation=evaluation,
        threads=1,
        measure=RunConfig().measure,
        predictions_path=tmp_path / "p.npz",
    )


def test_corrupt_artifact_becomes_a_failed_outcome(
    tmp_path: Path, evaluation_images, cache_dir: Path, mv2_bundle
) -> None:  # type: ignore[no-untyped-def]
    evaluation = next(cache_dir.glob("*.npy"))
    corrupt = tmp_path / "model.onnx"
    corrupt.write_bytes(b"\x08\x07garbage" * 100)
    bundle = mv2_bundle.onnx_path.parent / "bundle.json"
    outcome = _launcher(tmp_path).run(_measure_job(tmp_path, bundle, corrupt, evaluation), "m")
    assert outcome.status == "failed"
    assert "ONNX Runtime cannot load model.onnx" in (outcome.reason or "")
    assert len((outcome.reason or "").splitlines()) == 1


def test_timeout_kills_the_worker(
    tmp_path: Path, evaluation_images, cache_dir: Path, mv2_bundle
) -> None:  # type: ignore[no-untyped-def]
    evaluation = next(cache_dir.glob("*.npy"))
    bundle = mv2_bundle.onnx_path.parent / "bundle.json"
    outcome = _launcher(tmp_path, measure_timeout=0.5).run(
        _measure_job(tmp_path, bundle, mv2_bundle.onnx_path, evaluation), "m"
    )
    assert outcome.status == "failed" and "timed out after" in (outcome.reason or "")


def test_skip_mode_drops_and_lists_corrupt_images(
    sample_dir: Path, tmp_path: Path, mv2_bundle
) -> None:  # type: ignore[no-untyped-def]
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
