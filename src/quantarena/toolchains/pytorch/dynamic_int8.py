"""Dynamic INT8 of ``nn.Linear`` layers. On a CNN only the classifier is quantized, so speed and
size barely move: the variant is in the table to show that, not to win."""

from __future__ import annotations

import time
from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildResult
from quantarena.toolchains.pytorch import _common
from quantarena.toolchains.pytorch.fp32 import TorchModuleSession
from quantarena.toolchains.pytorch.recipes import TorchDynamicInt8


def build(bundle: ModelBundle, recipe: TorchDynamicInt8, calibration: ImageArray, workdir: Path) -> BuildResult:
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    start = time.perf_counter()
    notes: list[str] = []
    with _common.captured_warnings(notes):
        _common.set_engine(recipe.engine)
        model = quantize_dynamic(bundle.load_torch_module(), {torch.nn.Linear}, dtype=torch.qint8)
        target = workdir / "model.int8-dynamic.torchscript.pt"
        how = _common.save_torchscript(model, _common.example_inputs(calibration), target)
        weights = _common.describe_observer(default_dynamic_qconfig.weight)
    quantized = [name for name, m in model.named_modules() if type(m).__name__ == "Linear" and "dynamic" in type(m).__module__]
    details = {
        "engine": recipe.engine,
        "flow": "torch.ao.quantization.quantize_dynamic({nn.Linear}, qint8)",
        "weights": weights,
        "activations": "quantized per call from the observed min/max (uint8, per-tensor affine)",
        "quantized_layers": quantized,
        "serialized_with": how,
        "torch": torch.__version__,
    }
    if not quantized:
        notes.append("the model has no nn.Linear layer: nothing was quantized")
    return BuildResult(target, time.perf_counter() - start, 0, details, notes)


def load(artifact: Path, recipe: TorchDynamicInt8, threads: int) -> TorchModuleSession:
    module, notes = _common.load_torchscript(artifact, recipe.engine)
    return TorchModuleSession(module, {"engine": recipe.engine, "format": "TorchScript (dynamic INT8 Linear)", "load_notes": notes})
