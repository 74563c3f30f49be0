"""The serving scenarios as one more meter of the measuring worker: after every other meter (the
accuracy pass's predictions are what LoadGen's accuracy mode must agree with), each mode
(compute-only, end to end) runs the configured LoadGen scenarios on the same loaded session."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from quantarena.data.cache import ImageArray, load_split
from quantarena.errors import DataError
from quantarena.measure.meters import MeasureRun, Meter
from quantarena.models.spec import PreprocessSpec
from quantarena.results.scenarios import ScenarioRun, Scenarios
from quantarena.serving.accuracy import agreement
from quantarena.serving.config import ModeName, ScenarioConfig
from quantarena.serving.harness import Harness
from quantarena.serving.qsl import CachedImages, JpegFiles, SampleLibrary
from quantarena.serving.server_search import find_max_qps

#: the Offline batch when no throughput pass was measured
DEFAULT_OFFLINE_BATCH = 32
#: the Server search starts this far above the Offline rate: a rate measured once is noisy, and
#: a search capped below the true limit could never find it
UPPER_MARGIN = 1.1


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def jpeg_paths(data_root: Path, files: list[str]) -> list[Path]:
    """The original file of every image of the split, in split order."""
    from quantarena.data.dataset import discover

    by_name = {sample.name: sample.path for sample in discover(data_root)[1]}
    missing = [name for name in files if name not in by_name]
    if missing:
        raise DataError(
            f"end-to-end serving needs the original images; {len(missing)} are gone from "
            f"{data_root} (first: {missing[0]})"
        )
    return [by_name[name] for name in files]


@dataclass
class ScenariosMeter(Meter):
    key: ClassVar[str] = "scenarios"
    field: ClassVar[str] = "scenarios"
    speed: ClassVar[bool] = True

    config: ScenarioConfig
    data_root: Path
    spec: PreprocessSpec
    folder: Path  # the variant's folder; LoadGen's logs go under loadgen/
    root: Path  # the run folder (summaries are recorded relative to it)
    threads: int

    def measure(self, run: MeasureRun) -> Scenarios:
        from importlib.metadata import version

        import mlperf_loadgen  # noqa: F401 - fails here, with its message, when not installed
        import PIL

        split = load_split(run.evaluation)
        threads = self.config.preprocess_threads or self.threads
        block = Scenarios(
            settings={**self.config.model_dump(mode="json"), "evaluation_images": len(split),
                      "loadgen": version("mlcommons-loadgen")},
        )
        if "end-to-end" in self.config.modes:
            block.preprocessing = {
                "library": f"Pillow {PIL.__version__} + NumPy", "threads": threads,
                "steps": "decode, resize shorter side, center crop, normalize (as the cache)",
            }
        for mode in self.config.modes:
            library = self._library(mode, split, threads)
            try:
                self._measure_mode(run, block, mode, library, split)
            finally:
                library.close()
        return block

    def _library(self, mode: ModeName, split: ImageArray, threads: int) -> SampleLibrary:
        if mode == "compute":
            return CachedImages(split)
        return JpegFiles(jpeg_paths(self.data_root, split.files), self.spec, threads)

    def _measure_mode(
        self, run: MeasureRun, block: Scenarios, mode: ModeName, library: SampleLibrary,
        split: ImageArray,
    ) -> None:
        harness = Harness(
            run=run.session.run, library=library, config=self.config, mode=mode,
            folder=self.folder / "loadgen" / mode, root=self.root,
            eval_batch=run.config.eval_batch,
            offline_batch=self.config.offline_batch or _fastest_batch(run),
        )
        harness.calibrate()
        offline: ScenarioRun | None = None
        for scenario in self.config.ordered():
            _log(f"LoadGen {scenario} ({mode}) ...")
            if scenario == "server":
                upper = UPPER_MARGIN * (_rate(offline) or harness.offline_qps)
                single = block.run("single-stream", mode)
                block.server.append(find_max_qps(harness, upper, single, _log))
                continue
            result = harness.test(scenario)
            block.runs.append(result)
            if scenario == "offline":
                offline = result
        if self.config.loadgen_accuracy and run.accuracy_unavailable is None:
            _log(f"LoadGen accuracy mode ({mode}) ...")
            log = harness.accuracy()
            block.accuracy.append(agreement(log, run.predictions_path, split, mode))


def _fastest_batch(run: MeasureRun) -> int:
    """The batch size of the fastest throughput pass: what Offline should run at (on a small
    CPU, batch 1 can beat batch 32)."""
    passes = run.measured.throughput
    return max(passes, key=lambda t: t.images_per_s).batch if passes else DEFAULT_OFFLINE_BATCH


def _rate(offline: ScenarioRun | None) -> float | None:
    return offline.summary.samples_per_s if offline is not None else None
