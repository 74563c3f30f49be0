"""What ``tune.json`` keeps: every trial (its knobs, its measured row, its score on the
validation split), the reference, the splits by hash, and the final candidates' evaluation.

It is saved after every trial (atomically), so a search stopped in any way loses at most the trial
that was running, and a rerun into the same folder reuses every trial already measured: the
complaint about tuners that end 100 trials with nothing saved does not apply here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from quantarena import __version__
from quantarena.errors import ResultsError
from quantarena.results.accuracy import Accuracy, PairedComparison
from quantarena.results.measurements import Latency
from quantarena.results.schema import VariantResult
from quantarena.tune.sensitivity import Sensitivity
from quantarena.tune.splits import SplitRecord

TUNE_FILE = "tune.json"
TUNE_SCHEMA = "1.0"

TrialStatus = Literal["ok", "failed", "unavailable"]


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Score(_Block):
    """One candidate on one split, against the FP32 reference on the same images. ``drop_pp`` is
    the top-1 loss in percentage points (positive: worse than FP32), its CI the paired bootstrap
    CI of that loss; the latency is the batch-1 median of the candidate's own measuring worker."""

    images: int
    top1: float
    drop_pp: float
    drop_ci95_pp: list[float]
    mcnemar_p: float
    latency_p50_ms: float | None
    latency_p50_ci95_ms: list[float] | None

    @classmethod
    def of(cls, row: VariantResult) -> Score | None:
        """The score of a measured row, or ``None`` when it has no paired comparison."""
        return cls.from_parts(row.accuracy, row.latency_ms)

    @classmethod
    def from_parts(cls, accuracy: Accuracy | None, latency: Latency | None) -> Score | None:
        if accuracy is None or accuracy.vs_reference is None:
            return None
        paired: PairedComparison = accuracy.vs_reference
        return cls(
            images=accuracy.images,
            top1=accuracy.top1,
            drop_pp=-paired.delta_pp,
            drop_ci95_pp=[-paired.ci95_pp[1], -paired.ci95_pp[0]],
            mcnemar_p=paired.mcnemar_p,
            latency_p50_ms=latency.p50 if latency is not None else None,
            latency_p50_ci95_ms=list(latency.p50_ci95) if latency is not None else None,
        )


class Trial(_Block):
    """One point of one recipe's search space, built and measured for real."""

    variant: str
    number: int
    #: the searched knobs (a subset of the recipe's knobs, named as the recipe names them)
    params: dict[str, Any]
    #: ``ok``: measured; otherwise why not (a failed build stays a trial: the sampler learns)
    status: TrialStatus
    reason: str | None = None
    #: the trial whose measurement this one reuses, when the sampler proposed the same knobs again
    reused_from: int | None = None
    #: the trial's folder, relative to the run folder (artifact, predictions, worker logs)
    folder: str
    seconds: float
    validation: Score | None = None
    #: the full measured row on the validation split (recipe resolved, build facts, measurements)
    row: VariantResult | None = None

    @property
    def key(self) -> tuple[str, int]:
        return self.variant, self.number


class StudyPoint(_Block):
    """One point of a study (``tune --study calibration``): one recipe calibrated one way on
    one count of calibration images, built and measured like a trial, on the validation split
    only, paired with the FP32 reference on the same images."""

    variant: str
    #: the ``calibration_method`` value, or the recipe's own calibrator when it offers no choice
    method: str
    #: the value of the recipe's calibration-image count knob
    images: int
    #: the knobs set (method and count); every other knob is the recipe's default
    params: dict[str, Any]
    status: TrialStatus
    reason: str | None = None
    folder: str
    seconds: float
    validation: Score | None = None
    row: VariantResult | None = None
    #: SHA-256 of the artifact's files: equal for two methods that built the same model
    artifact_sha256: str | None = None


class StudyRecord(_Block):
    """A study's grid as last asked for, and every point measured so far (a rerun reuses them)."""

    name: Literal["calibration"] = "calibration"
    variants: list[str]
    counts: list[int]
    #: ``--max-drop`` when given: the chart's budget line; nothing is chosen by it
    budget_pp: float | None = None
    points: list[StudyPoint] = []
    #: variants that could not run here, and why
    unavailable: dict[str, str] = {}
    started_at: str
    finished_at: str | None = None
    #: seconds spent measuring points, summed over every invocation
    seconds: float = 0.0


class Final(_Block):
    """A candidate the search chose, measured once on the evaluation split."""

    variant: str
    number: int
    #: why it is in the final table ("fastest within the budget on onnxruntime", ...)
    role: str
    meets_budget: bool
    validation: Score
    evaluation: Score | None = None
    reason: str | None = None
    #: the toolchain's own accuracy control beside a fallback (``vendor_control``): reported
    #: for comparison, never chosen
    comparison: bool = False


class TuneRecord(_Block):
    """The whole of ``tune.json``."""

    schema_version: str = TUNE_SCHEMA
    tool_version: str = __version__
    started_at: str
    finished_at: str | None = None
    #: model, data and platform settings, as ``run`` resolves them (a resumed search checks them)
    config: dict[str, Any]
    max_drop_pp: float
    acceptance_rule: str
    splits: SplitRecord
    reference: str
    #: the reference measured on the validation split (its predictions judge every trial)
    reference_row: VariantResult | None = None
    reference_validation_top1: float | None = None
    reference_evaluation_top1: float | None = None
    reference_latency_p50_ms: float | None = None
    trials: list[Trial] = []
    #: why each variant's search stopped (trial budget, time budget, space exhausted ...)
    stopped: dict[str, str] = {}
    #: per variant that fell back to mixed precision: its layers ranked by damage
    sensitivity: dict[str, Sensitivity] = {}
    #: per variant that fell back: its toolchain's own accuracy control on the same splits and
    #: budget (NNCF's ``quantize_with_accuracy_control`` for OpenVINO), for comparison
    vendor_control: dict[str, Trial] = {}
    pareto: list[tuple[str, int]] = []
    finals: list[Final] = []
    overall: tuple[str, int] | None = None
    notes: list[str] = []
    #: ``tune --study``: measured instead of a search, beside it in the same folder if one ran
    study: StudyRecord | None = None

    def of_variant(self, variant: str) -> list[Trial]:
        return [t for t in self.trials if t.variant == variant]

    def trial(self, key: tuple[str, int]) -> Trial:
        return next(t for t in self.trials if t.key == key)

    def trial_of(self, final: Final) -> Trial:
        """The trial a final candidate was measured from (a comparison's lives apart)."""
        if final.comparison:
            return next(t for t in self.vendor_control.values() if t.variant == final.variant)
        return self.trial((final.variant, final.number))


def save_record(record: TuneRecord, out: Path) -> None:
    """Write ``tune.json`` atomically: a kill mid-write leaves the previous complete file."""
    target = out / TUNE_FILE
    temporary = out / f"tune.{os.getpid()}.tmp"
    temporary.write_text(record.model_dump_json(indent=2))
    temporary.replace(target)


def load_record(out: Path) -> TuneRecord | None:
    """The record in ``out``, ``None`` when there is none, one line when it is unreadable."""
    path = out / TUNE_FILE
    if not path.exists():
        return None
    try:
        record = TuneRecord.model_validate_json(path.read_text())
    except (ValidationError, ValueError, OSError) as exc:
        raise ResultsError(
            f"{path} is not a readable tune record: {str(exc).splitlines()[0]}"
        ) from None
    if record.schema_version != TUNE_SCHEMA:
        raise ResultsError(
            f"{path} has tune schema {record.schema_version}; this quantarena reads {TUNE_SCHEMA}"
        )
    return record
