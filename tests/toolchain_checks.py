"""Helpers for toolchain tests: build a variant, load it as a fresh worker would, score it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains import BuildOutcome, Session, parse_variant


def build_and_load(
    variant: str,
    bundle: ModelBundle,
    calibration: ImageArray,
    workdir: Path,
    options: dict[str, Any] | None = None,
    threads: int = 2,
) -> tuple[BuildOutcome, Session]:
    """Build through the adapter's public ``build`` (timed, facts type-checked) and load the
    artifact through ``load`` (errors wrapped), exactly as the workers do."""
    toolchain, recipe_name = parse_variant(variant)
    recipe = toolchain.parse_recipe(recipe_name, options)
    result = toolchain.build(bundle, recipe, calibration, workdir)
    return result, toolchain.load(result.artifact, recipe, threads)


def predictions(session: Session, images: ImageArray, batch: int = 16) -> np.ndarray:
    """Top-1 class per image."""
    out = []
    for chunk, valid in images.batches(batch):
        out.append(np.argmax(session.run(chunk)[:valid], axis=1))
    return np.concatenate(out)


def reference_predictions(bundle: ModelBundle, images: ImageArray) -> np.ndarray:
    """Top-1 of the FP32 torch module, the reference every variant is compared with."""
    from quantarena.toolchains.pytorch._common import fp32_module
    from quantarena.toolchains.pytorch.runtime import TorchModuleSession

    return predictions(TorchModuleSession(fp32_module(bundle)), images)


#: Ops that mean ONNX Runtime runs integer arithmetic (fused from Q/DQ or written as such).
INTEGER_KERNELS = {"ConvInteger", "MatMulInteger", "QGemm", "DynamicQuantizeMatMul",
                   "MatMulIntegerToFloat"}


def executed_ops(session: Any, path: Path, saved: Path) -> set[str]:
    """Op types of the graph ONNX Runtime really executes for ``session``: the same file opened
    again under that session's own options (config entries included), the optimized graph saved."""
    import onnx
    import onnxruntime as ort

    options = session.get_session_options()
    options.optimized_model_filepath = str(saved)
    ort.InferenceSession(str(path), options, providers=session.get_providers())
    return {n.op_type for n in onnx.load(str(saved)).graph.node}


def integer_kernels(ops: set[str]) -> set[str]:
    return {op for op in ops if op.startswith("QLinear") or op in INTEGER_KERNELS}


def assert_distillation_trained(facts: dict[str, Any], steps: int) -> None:
    """What both QAT paths (PT2E and eager) must show after ``steps`` steps: one loss per step,
    the knobs kept out of the facts, the loss on all training images down, the weights moved,
    observers frozen half-way and batch norm from the start."""
    assert len(facts["loss_history"]) == steps and "steps" not in facts
    assert facts["loss_all_images_after"] < facts["loss_all_images_before"], facts
    assert facts["weights_changed_fraction"] > 0.5
    assert facts["observers_frozen_at_step"] == steps // 2
    assert facts["batchnorm_frozen_at_step"] == 0
    assert set(facts["seconds"]) == {"export_and_prepare", "training", "convert_and_save"}
