"""One variant from recipe to row: availability, build worker, measuring worker(s), and the
typed ``VariantResult`` assembled from what they return."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from quantarena.config import RunConfig
from quantarena.measure.accuracy import Predictions
from quantarena.measure.meters import exact_predictions_path
from quantarena.models.spec import ModelBundle
from quantarena.results.kernel import KernelCheck
from quantarena.results.measurements import Latency, Throughput
from quantarena.results.schema import Artifact, Build, Measurements, Status, VariantResult
from quantarena.runner.jobs import BuildJob, MeasureJob
from quantarena.runner.launcher import Launcher
from quantarena.runner.plan import PlannedVariant
from quantarena.runner.timeline import Timeline
from quantarena.toolchains.base import BuildOutcome


@dataclass(frozen=True)
class SplitFiles:
    """Where the workers find the FP32 bundle and the cached splits."""

    bundle: Path
    calibration: Path
    evaluation: Path


@dataclass
class VariantRunner:
    config: RunConfig
    launcher: Launcher
    bundle: ModelBundle
    out: Path
    files: SplitFiles
    log: Callable[[str], None]
    #: the reference's per-image predictions, once measured
    reference: Predictions | None = field(default=None)
    #: where the run's time goes (each variant's build and measurement)
    timeline: Timeline = field(default_factory=Timeline)

    def run(self, p: PlannedVariant, baseline: str | None, *, is_reference: bool) -> VariantResult:
        self._clear(p)
        problem = p.toolchain.unavailable(p.recipe_name, self.bundle)
        if problem is not None:
            self.log(f"  {p.name}: unavailable: {problem.reason}")
            return self._row(p, "unavailable", problem.reason)
        self.log(f"  {p.name}: building ...")
        job = BuildJob(
            recipe=p.recipe.to_payload(p.name),
            bundle=self.files.bundle,
            calibration=self.files.calibration,
            workdir=self.out / "variants" / p.slug,
        )
        with self.timeline.part(p.name, "build"):
            build = self.launcher.run(job, f"{p.slug}.build")
        if build.status != "ok" or build.result is None:
            self.log(f"  {p.name}: build {build.status}: {build.reason}")
            return self._row(p, build.status, f"build: {build.reason}")
        built = build.result
        self.log(
            f"  {p.name}: built in {built.seconds:.1f} s ({built.size_bytes / 1e6:.1f} MB); "
            "measuring ..."
        )
        with self.timeline.part(p.name, "measure"):
            measure = self.launcher.run(
                self._measure_job(p, built, timing_only=False), f"{p.slug}.measure"
            )
            if measure.status != "ok" or measure.result is None:
                self.log(f"  {p.name}: measurement {measure.status}: {measure.reason}")
                return self._row(p, measure.status, f"measure: {measure.reason}", built, baseline)
            measured = self._with_repeats(p, built, measure.result)
        if measured.accuracy is not None:
            predictions = Predictions.load(self._predictions_path(p))
            if is_reference:
                self.reference = predictions
            # The reference is compared with itself (delta 0, agreement 1), so its row is complete.
            measured.accuracy = predictions.accuracy(self.reference)
            measured.predictions_file = self._relative(self._predictions_path(p))
        if measured.kernel is not None:
            measured.kernel = self._recipe_share(measured.kernel, self._predictions_path(p))
        measured.notes = [*built.notes, *measured.measurement_notes()]
        failure = measured.scenarios.failure() if measured.scenarios is not None else None
        if failure is not None:
            self.log(f"  {p.name}: {failure}")
            return self._row(p, "failed", failure, built, baseline, measured)
        row = self._row(p, "ok", None, built, baseline, measured)
        self.log(f"  {p.name}: {_one_line(row)}")
        return row

    def _clear(self, p: PlannedVariant) -> None:
        """A variant measured again (resume) starts from nothing: a half-built artifact or an old
        log from an interrupted attempt must not be counted or read as this attempt's."""
        shutil.rmtree(self.out / "variants" / p.slug, ignore_errors=True)
        logs = self.out / "logs"
        for pattern in (f"{p.slug}.build.*", f"{p.slug}.measure.*", f"{p.slug}.measure-*.*",
                        f"{p.slug}.timing.*"):
            for path in logs.glob(pattern):
                path.unlink(missing_ok=True)

    def recompare(self, row: VariantResult) -> VariantResult:
        """A row kept from an earlier run in which the reference was not measured: its accuracy
        (and the recipe's share of the kernel check) against the reference measured now, from its
        saved predictions, exactly as if both had been measured in one run."""
        if self.reference is None or row.predictions_file is None or row.accuracy is None:
            return row
        path = self.out / row.predictions_file
        own_notes = [n for n in row.notes if n not in row.measurement_notes()]
        update: dict[str, object] = {"accuracy": Predictions.load(path).accuracy(self.reference)}
        if row.kernel is not None:
            update["kernel"] = self._recipe_share(row.kernel, path)
        again = row.model_copy(update=update)
        return again.model_copy(update={"notes": [*own_notes, *again.measurement_notes()]})

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    def _recipe_share(self, kernel: KernelCheck, predictions: Path) -> KernelCheck:
        """The exact-arithmetic predictions against the reference: the recipe's share."""
        exact_path = exact_predictions_path(predictions)
        update: dict[str, object] = {"predictions_file": self._relative(exact_path)}
        if self.reference is not None:
            exact = Predictions.load(exact_path)
            update["recipe_delta_pp"] = exact.accuracy(self.reference).top1_delta_pp
        return kernel.model_copy(update=update)

    def _predictions_path(self, p: PlannedVariant) -> Path:
        return self.out / "variants" / p.slug / "predictions.npz"

    def _measure_job(
        self, p: PlannedVariant, built: BuildOutcome, *, timing_only: bool
    ) -> MeasureJob:
        return MeasureJob(
            recipe=p.recipe.to_payload(p.name),
            bundle=self.files.bundle,
            artifact=built.artifact,
            evaluation=self.files.evaluation,
            threads=self.config.threads,
            measure=self.config.measure,
            predictions_path=self._predictions_path(p),
            timing_only=timing_only,
            scenarios=None if timing_only else self.config.scenarios,
            data=None if timing_only else self.config.data.resolve(),
        )

    def _with_repeats(
        self, p: PlannedVariant, built: BuildOutcome, first: Measurements
    ) -> Measurements:
        """Time the variant again in ``repeats - 1`` more fresh processes; latency and throughput
        are then aggregated by their own types (the spread between processes is the honest CI
        on a noisy machine)."""
        repeats = self.config.measure.repeats
        if repeats < 2 or first.latency_ms is None:
            return first
        runs = [first]
        for index in range(2, repeats + 1):
            self.log(f"  {p.name}: timing again ({index}/{repeats}) ...")
            outcome = self.launcher.run(
                self._measure_job(p, built, timing_only=True), f"{p.slug}.measure-{index}"
            )
            if (
                outcome.status == "ok"
                and outcome.result is not None
                and outcome.result.latency_ms is not None
            ):
                runs.append(outcome.result)
            else:
                self.log(f"  {p.name}: repeat {index} {outcome.status}: {outcome.reason}")
        latencies: list[Latency] = [run.latency_ms for run in runs if run.latency_ms is not None]
        return first.model_copy(
            update={
                "latency_ms": Latency.aggregate(latencies),
                "throughput": Throughput.aggregate([run.throughput for run in runs]),
            }
        )

    def _row(
        self,
        p: PlannedVariant,
        status: Status,
        reason: str | None,
        built: BuildOutcome | None = None,
        baseline: str | None = None,
        measured: Measurements | None = None,
    ) -> VariantResult:
        artifact = build = None
        if built is not None:
            path = built.artifact
            artifact = Artifact(
                path=path.relative_to(self.out).as_posix()
                if path.is_relative_to(self.out)
                else str(path),
                size_mb=built.size_bytes / 1e6,
                files=[f.name for f in built.files],
            )
            build = Build(
                seconds=built.seconds,
                calibration_images=built.calibration_images,
                facts=built.facts,
            )
        return VariantResult(
            name=p.name,
            toolchain=p.toolchain.name,
            precision=p.recipe.precision,
            recipe=p.recipe.model_dump(mode="json"),
            status=status,
            reason=reason,
            artifact=artifact,
            build=build,
            baseline=baseline if status == "ok" else None,
            **(
                dict(measured)
                if measured is not None
                else {"notes": list(built.notes) if built else []}
            ),
        )


def not_run_row(p: PlannedVariant, reason: str) -> VariantResult:
    """The row of a variant the run has not measured (yet): named, with its recipe and why."""
    return VariantResult(
        name=p.name,
        toolchain=p.toolchain.name,
        precision=p.recipe.precision,
        recipe=p.recipe.model_dump(mode="json"),
        status="not_run",
        reason=reason,
    )


def _one_line(v: VariantResult) -> str:
    parts = []
    if v.accuracy:
        parts.append(f"top-1 {v.accuracy.top1:.2%}")
    if v.latency_ms:
        parts.append(f"p50 {v.latency_ms.p50:.2f} ms")
    if v.throughput:
        parts.append(f"{v.throughput[-1].images_per_s:.0f} img/s @ {v.throughput[-1].batch}")
    return ", ".join(parts) or "ok"
