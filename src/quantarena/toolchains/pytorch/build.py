"""Making PyTorch artifacts: each recipe class goes to the builder of its path (torchao's config ->
handler pattern). Builders import torch lazily; each returns its recipe's typed ``Facts``."""

from __future__ import annotations

from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe
from quantarena.toolchains.pytorch import (
    compiled_fp32,
    dynamic_int8,
    eager_int8,
    fp32,
    fx_int8,
    pt2e_int8,
    qat_eager_int8,
    qat_int8,
)
from quantarena.toolchains.pytorch.recipes import (
    TorchCompiledFp32,
    TorchDynamicInt8,
    TorchEagerInt8,
    TorchFp32,
    TorchFxInt8,
    TorchPt2eInt8,
    TorchQatEagerInt8,
    TorchQatInt8,
)


def build(bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path) -> Built:
    """The artifact of ``recipe`` under ``workdir``; an unknown recipe type is refused."""
    match recipe:
        case TorchFp32():
            return fp32.build(bundle, recipe, calibration, workdir)
        case TorchCompiledFp32():
            return compiled_fp32.build(bundle, recipe, calibration, workdir)
        case TorchEagerInt8():
            return eager_int8.build(bundle, recipe, calibration, workdir)
        case TorchFxInt8():
            return fx_int8.build(bundle, recipe, calibration, workdir)
        case TorchPt2eInt8():
            return pt2e_int8.build(bundle, recipe, calibration, workdir)
        case TorchQatInt8():
            return qat_int8.build(bundle, recipe, calibration, workdir)
        case TorchQatEagerInt8():
            return qat_eager_int8.build(bundle, recipe, calibration, workdir)
        case TorchDynamicInt8():
            return dynamic_int8.build(bundle, recipe, calibration, workdir)
    raise TypeError(f"no PyTorch builder for {type(recipe).__name__}")
