"""Building and measuring a tuning candidate for real, exactly as ``run`` measures a variant: a
build worker, then a fresh measuring worker (batch-1 latency, accuracy on the split it is given),
each with the run's threads, pinning and allocator.

A trial is measured on the validation split; a final candidate's artifact (the very file its
trial validated, not a rebuild) is measured again, once, on the evaluation split.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from quantarena.config import MeasureConfig, RunConfig
from quantarena.errors import ModelError
from quantarena.measure.accuracy import Predictions
from quantarena.models.spec import ModelBundle
from quantarena.results.schema import VariantResult
from quantarena.runner.interrupt import Stop
from quantarena.runner.jobs import MeasureJob
from quantarena.runner.launcher import Launcher
from quantarena.runner.plan import PlannedVariant
from quantarena.runner.variant import SplitFiles, VariantRunner
from quantarena.toolchains import Recipe, parse_variant
from quantarena.tune.trials import Score

#: How a candidate is timed: batch-1 latency to a 2 % CI of the median within 2 to 10 s, no
#: throughput pass (the search ranks by batch-1 latency; a full ``run`` of the winner measures
#: the rest). Kept short so a trial's time goes into building and validating.
TRIAL_MEASURE = MeasureConfig(
    latency_min_iterations=30,
    latency_min_seconds=2.0,
    latency_max_seconds=10.0,
    latency_target_ci=0.02,
    warmup_max_seconds=3.0,
    throughput_batches=[],
    interleave=False,
)

Log = Callable[[str], None]


@dataclass
class CandidateMeter:
    """Builds and measures candidates into their own folders under the tune run."""

    config: RunConfig
    bundle: ModelBundle
    bundle_file: Path
    calibration: Path
    stop: Stop
    log: Log
    #: the FP32 reference's predictions on the validation split, once measured
    reference: Predictions | None = None
    #: how candidates are timed (``None``: ``TRIAL_MEASURE``); a study, which asks only for
    #: accuracy, passes a short timing pass (the measuring path is the same either way)
    timing: MeasureConfig | None = None

    def measure(
        self, variant: str, recipe: Recipe, folder: Path, validation: Path, *,
        is_reference: bool = False,
    ) -> VariantResult:
        """Build ``recipe`` and measure it on ``validation``, in ``folder`` (emptied first: a
        half-built artifact of an interrupted attempt must not be counted)."""
        shutil.rmtree(folder, ignore_errors=True)
        toolchain, recipe_name = parse_variant(variant)
        planned = PlannedVariant(variant, toolchain, recipe_name, recipe)
        runner = VariantRunner(
            config=self._config(),
            launcher=Launcher.from_config(self.config, folder / "logs", self.stop),
            bundle=self.bundle,
            out=folder,
            files=SplitFiles(self.bundle_file, self.calibration, validation),
            log=self.log,
            reference=self.reference,
        )
        row = runner.run(planned, None, is_reference=is_reference)
        if is_reference:
            self.reference = runner.reference
        return row

    def with_calibration(self, calibration: Path) -> CandidateMeter:
        """The same meter building from another cached split (the reference is shared)."""
        return replace(self, calibration=calibration)

    def evaluate(
        self, row: VariantResult, trial_folder: Path, folder: Path, evaluation: Path,
        reference: Predictions | None,
    ) -> tuple[Predictions, Score | None]:
        """Measure the artifact a trial built, once, on ``evaluation`` (in ``folder``); its
        predictions, and its score against ``reference`` (``None`` for the reference itself)."""
        if row.artifact is None:
            raise ModelError(f"{row.name}: the trial kept no artifact to evaluate")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        toolchain, recipe_name = parse_variant(row.name)
        recipe = toolchain.parse_recipe(recipe_name, row.recipe)
        job = MeasureJob(
            recipe=recipe.to_payload(row.name),
            bundle=self.bundle_file,
            artifact=trial_folder / row.artifact.path,
            evaluation=evaluation,
            threads=self.config.threads,
            measure=TRIAL_MEASURE,
            predictions_path=folder / "predictions.npz",
        )
        launcher = Launcher.from_config(self.config, folder / "logs", self.stop)
        outcome = launcher.run(job, "evaluate")
        if outcome.status != "ok" or outcome.result is None:
            raise ModelError(f"{row.name}: evaluation {outcome.status}: {outcome.reason}")
        predictions = Predictions.load(folder / "predictions.npz")
        if reference is None:
            return predictions, None
        accuracy = predictions.accuracy(reference)
        return predictions, Score.from_parts(accuracy, outcome.result.latency_ms)

    def _config(self) -> RunConfig:
        return self.config.model_copy(update={"measure": self.timing or TRIAL_MEASURE})
