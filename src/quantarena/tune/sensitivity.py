"""Per-layer sensitivity: how much of a recipe's accuracy loss each layer's quantization causes,
measured by leaving one layer at a time in floating point (the rest quantized exactly as the
recipe says) and scoring the result on validation images against the FP32 model — the top-1 it
gains back and the output error (mean squared logit difference vs FP32) it removes.

The ranking drives the mixed-precision fallback (``fallback``): the most damaging layers are kept
in FP32 first. It is computed in a worker process (``sensitivity_worker``) like every build, with
the run's threads, pinning and allocator.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from quantarena.config import RunConfig
from quantarena.errors import ModelError
from quantarena.runner.launcher import describe_exit, worker_env
from quantarena.toolchains.base import RecipePayload

#: validation images each one-layer-in-FP32 model is scored on (the first of the split)
SENSITIVITY_IMAGES = 200
#: calibration images each of those builds reads at most (one build per layer: 53 NNCF builds on
#: 200 images would take longer than the whole search; the ranking, not the final model, uses it)
SENSITIVITY_CALIBRATION = 32


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LayerDamage(_Block):
    """One layer left in FP32: what the model then scores, and what that gains back."""

    layer: str
    top1: float
    #: top-1 points regained vs the fully quantized model (positive: this layer hurt)
    top1_gain_pp: float
    mse: float
    #: output error removed vs the fully quantized model (positive: this layer hurt)
    mse_reduction: float


class Sensitivity(_Block):
    """The ranking of one recipe's layers, most damaging first, and what it was measured on."""

    variant: str
    knobs: dict[str, object]
    images: int
    calibration_images: int
    fp32_top1: float
    quantized_top1: float
    quantized_mse: float
    seconds: float
    layers: list[LayerDamage]

    def ranked(self) -> list[str]:
        return [d.layer for d in self.layers]


def rank(damages: list[LayerDamage]) -> list[LayerDamage]:
    """Most damaging first: top-1 regained, then output error removed (top-1 on a few hundred
    images moves in steps of a fraction of a point; the output error separates the ties)."""
    return sorted(damages, key=lambda d: (-d.top1_gain_pp, -d.mse_reduction, d.layer))


class SensitivityJob(_Block):
    recipe: RecipePayload
    bundle: Path
    calibration: Path
    validation: Path
    images: int
    #: calibration images each build reads at most (the first of the split)
    calibration_images: int = SENSITIVITY_CALIBRATION
    threads: int
    workdir: Path
    #: analyse only the first N layers in graph order (None: all)
    max_layers: int | None = None


def measure_sensitivity(job: SensitivityJob, config: RunConfig, log_dir: Path) -> Sensitivity:
    """Run the worker for ``job`` and read its answer; a failure is one line naming the log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    job_path, answer, log = (log_dir / "sensitivity.job.json", log_dir / "sensitivity.json",
                             log_dir / "sensitivity.log")
    job_path.write_text(job.model_dump_json(indent=2))
    answer.unlink(missing_ok=True)
    with log.open("w") as handle:
        try:
            code = subprocess.run(
                [sys.executable, "-m", "quantarena.tune.sensitivity_worker", str(job_path),
                 str(answer)],
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=worker_env(config.threads, config.pin_cpus, config.malloc),
                timeout=config.build_timeout, check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            raise ModelError(f"sensitivity analysis timed out after {config.build_timeout:.0f} s "
                             f"(log: {log})") from None
    if code != 0 or not answer.exists():
        raise ModelError(f"sensitivity analysis failed: {describe_exit(code, log)} (log: {log})")
    return Sensitivity.model_validate_json(answer.read_text())
