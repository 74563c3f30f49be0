"""Worker entry point of the per-layer sensitivity analysis:
``python -m quantarena.tune.sensitivity_worker JOB.json ANSWER.json``.

Builds the FP32 model and the fully quantized one of the toolchain, then one model per layer with
that layer added to the recipe's layer knob (left in floating point), each with the toolchain's
own ``build``/``load``, and scores each on the first validation images with the session a trial
is measured with (for PT2E: Inductor's oneDNN kernels, not the graph run without a compiler,
whose logits differ from the kernels' almost as much as the kernels' differ from FP32).
Imports one toolchain.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from quantarena.data.cache import ImageArray, load_split
from quantarena.models.spec import ModelBundle
from quantarena.toolchains import Recipe, Toolchain, recipe_from_payload
from quantarena.tune.sensitivity import LayerDamage, Sensitivity, SensitivityJob, rank

#: Every build is scored at batch 1, the batch every session is loaded for: PT2E's Inductor
#: session is compiled for that size at load and would compile again for any other (measured on
#: MobileNetV2, 2 cores: 4 s more per layer at batch 25, against under a second to run 200 images
#: at batch 1), and the other runtimes lose well under a second per layer to batch 1.
BATCH = 1


def _logits(toolchain: Toolchain, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray,
            images: ImageArray, workdir: Path, threads: int) -> np.ndarray:
    """Build ``recipe`` in ``workdir``, run every image, return the logits; the artifact is
    deleted afterwards (one per layer would fill the disk)."""
    built = toolchain.build(bundle, recipe, calibration, workdir)
    session = toolchain.load(built.artifact, recipe, threads)
    rows = [np.asarray(session.run(chunk))[:valid] for chunk, valid in images.batches(BATCH)]
    del session
    shutil.rmtree(workdir, ignore_errors=True)
    return np.concatenate(rows).astype(np.float64)


def _top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def analyse(job: SensitivityJob) -> Sensitivity:
    start = time.perf_counter()
    toolchain, recipe = recipe_from_payload(job.recipe)
    knob = type(recipe).layer_knob
    if knob is None or toolchain.baseline_recipe is None:
        raise ValueError(f"{job.recipe.variant} cannot keep layers in floating point")
    bundle = ModelBundle.load(job.bundle)
    calibration = load_split(job.calibration).subset(job.calibration_images)
    images = load_split(job.validation).subset(job.images)
    labels = np.asarray(images.labels)
    fp32 = toolchain.parse_recipe(toolchain.baseline_recipe)
    reference = _logits(toolchain, bundle, fp32, calibration, images, job.workdir / "fp32",
                        job.threads)
    full = _logits(toolchain, bundle, recipe, calibration, images, job.workdir / "int8",
                   job.threads)
    full_top1, full_mse = _top1(full, labels), float(np.mean((full - reference) ** 2))
    kept: tuple[str, ...] = tuple(getattr(recipe, knob))
    layers = [name for name in type(recipe).layers(bundle) if name not in kept]
    damages = []
    for layer in tqdm(layers[: job.max_layers], desc="layers", unit="layer"):
        one = recipe.model_copy(update={knob: (*kept, layer)})
        logits = _logits(toolchain, bundle, one, calibration, images, job.workdir / "layer",
                         job.threads)
        top1, mse = _top1(logits, labels), float(np.mean((logits - reference) ** 2))
        damages.append(LayerDamage(layer=layer, top1=top1,
                                   top1_gain_pp=(top1 - full_top1) * 100.0, mse=mse,
                                   mse_reduction=full_mse - mse))
    return Sensitivity(
        variant=job.recipe.variant, knobs=dict(job.recipe.knobs), images=len(labels),
        calibration_images=len(calibration.labels),
        fp32_top1=_top1(reference, labels), quantized_top1=full_top1, quantized_mse=full_mse,
        seconds=time.perf_counter() - start, layers=rank(damages),
    )


def main(argv: list[str]) -> int:
    from quantarena.runner.lifeline import expected_parent, guard_parent
    from quantarena.runner.worker import apply_pinning

    guard_parent(expected_parent())
    apply_pinning()
    job = SensitivityJob.model_validate_json(Path(argv[0]).read_text())
    Path(argv[1]).write_text(analyse(job).model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
