"""FP32 through the same export and Inductor compile as the PT2E INT8 variant, so the INT8 speedup
is measured against a compiled FP32 model and not only against eager PyTorch."""

from __future__ import annotations

import time
from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildResult
from quantarena.toolchains.pytorch import _common, _inductor
from quantarena.toolchains.pytorch.fp32 import TorchModuleSession
from quantarena.toolchains.pytorch.recipes import TorchCompiledFp32


def build(bundle: ModelBundle, recipe: TorchCompiledFp32, calibration: ImageArray, workdir: Path) -> BuildResult:
    import torch

    start = time.perf_counter()
    notes: list[str] = []
    target = workdir / "model.fp32.pt2"
    with _common.captured_warnings(notes):
        _inductor.export_and_save(bundle.load_torch_module(), _common.example_inputs(calibration), target)
    details = {
        "export": "torch.export.export, dynamic batch dimension",
        "compiler": "inductor (at load)",
        "freezing": recipe.freezing,
        "torch": torch.__version__,
    }
    return BuildResult(target, time.perf_counter() - start, 0, details, notes)


def load(artifact: Path, recipe: TorchCompiledFp32, threads: int) -> TorchModuleSession:
    return _inductor.load_compiled(artifact, freezing=recipe.freezing, quantized=False)
