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
