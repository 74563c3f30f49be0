"""Session fixtures of the serving tests: a real ONNX Runtime session of the real MobileNetV2 and
every scenario run once on it by the real MLPerf LoadGen, at tiny durations (about 20 s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import CALIBRATION_COUNT, EVALUATION_COUNT
from quantarena.config import MeasureConfig
from quantarena.data.cache import cache_split, read_head
from quantarena.data.dataset import discover
from quantarena.data.split import split_samples
from quantarena.measure.meters import AccuracyMeter, MeasureRun, measure_all
from quantarena.results.scenarios import Scenarios
from quantarena.serving.config import ScenarioConfig
from quantarena.serving.meter import ScenariosMeter
from quantarena.toolchains import get_toolchain

TINY = ScenarioConfig(
    scenarios=["single-stream", "multi-stream", "offline", "server"],
    min_duration_s=0.3,
    single_stream_queries=20,
    multi_stream_queries=8,
    server_queries=40,
    server_search_steps=2,
    offline_batch=8,
    performance_samples=16,
    latency_bound_ms=100.0,  # wide: a shared machine's tail must not skip the search
)
MEASURE = MeasureConfig(eval_batch=8)


@pytest.fixture(scope="session")
def evaluation(sample_dir: Path, cache_dir: Path, mv2_bundle: Any) -> Path:
    """The evaluation split's cache file (the same one the shared fixtures made)."""
    _, samples = discover(sample_dir)
    split = split_samples(samples, CALIBRATION_COUNT, EVALUATION_COUNT, seed=0)
    return cache_split(split.evaluation, mv2_bundle.preprocessing, cache_dir, "evaluation")


@pytest.fixture(scope="session")
def session(mv2_bundle: Any) -> Any:
    toolchain = get_toolchain("onnxruntime")
    return toolchain.load(mv2_bundle.onnx_path, toolchain.parse_recipe("fp32"), 1)


@pytest.fixture(scope="session")
def served(
    session: Any, evaluation: Path, sample_dir: Path, mv2_bundle: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Scenarios, Path, Path]:
    """The accuracy pass, then every scenario in both modes (about 20 s)."""
    folder = tmp_path_factory.mktemp("variant")
    run = MeasureRun(
        session=session, config=MEASURE, timing_images=read_head(evaluation, 8),
        evaluation=evaluation, predictions_path=folder / "predictions.npz",
        rss_before_load_mb=0.0, rss_after_load_mb=0.0,
    )
    meter = ScenariosMeter(
        config=TINY, data_root=sample_dir, spec=mv2_bundle.preprocessing, folder=folder,
        root=folder.parent, threads=2,
    )
    measured = measure_all(run, [AccuracyMeter(), meter])
    assert measured.scenarios is not None, measured.unavailable
    return measured.scenarios, folder, run.predictions_path
