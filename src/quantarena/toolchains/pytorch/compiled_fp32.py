"""FP32 through the same export and Inductor compile as the PT2E INT8 variant, so the INT8 speedup
is measured against a compiled FP32 model and not only against eager PyTorch."""

from __future__ import annotations

from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
from quantarena.toolchains.pytorch import _common, _export, _pt2e
from quantarena.toolchains.pytorch.facts import TorchCompiledFp32Facts
from quantarena.toolchains.pytorch.recipes import TorchCompiledFp32


def build(
    bundle: ModelBundle, recipe: TorchCompiledFp32, calibration: ImageArray, workdir: Path
) -> Built:
    import torch

    notes: list[str] = []
    target = workdir / "model.fp32.pt2"
    with _common.captured_warnings(notes):
        example = _common.example_inputs(calibration)
        _export.export_and_save(_common.fp32_module(bundle), example, target)
    facts = TorchCompiledFp32Facts(
        export="torch.export.export, dynamic batch dimension",
        compiler=_pt2e.compiler(recipe.freezing),
        torch=torch.__version__,
    )
    return Built(target, facts, notes=notes)
