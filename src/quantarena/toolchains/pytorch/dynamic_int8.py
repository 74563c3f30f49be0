"""Dynamic INT8 of ``nn.Linear`` layers. On a CNN only the classifier is quantized, so speed and
size barely move: the variant is in the table to show that, not to win."""

from __future__ import annotations

from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
from quantarena.toolchains.pytorch import _common
from quantarena.toolchains.pytorch.facts import TorchDynamicInt8Facts
from quantarena.toolchains.pytorch.recipes import TorchDynamicInt8


def build(
    bundle: ModelBundle, recipe: TorchDynamicInt8, calibration: ImageArray, workdir: Path
) -> Built:
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    notes: list[str] = []
    target = workdir / "model.int8-dynamic.torchscript.pt"
    with _common.captured_warnings(notes):
        engine = _common.set_engine(recipe.engine)
        # quantize_dynamic has no annotations
        model = quantize_dynamic(  # type: ignore[no-untyped-call]  # untyped torch API
            _common.fp32_module(bundle), {torch.nn.Linear}, dtype=torch.qint8
        )
        how = _common.save_torchscript(model, _common.example_inputs(calibration), target)
        weights = _common.describe_observer(default_dynamic_qconfig.weight)
    quantized = [
        name for name, m in model.named_modules()
        if type(m).__name__ == "Linear" and "dynamic" in type(m).__module__
    ]
    if not quantized:
        notes.append("the model has no nn.Linear layer: nothing was quantized")
    facts = TorchDynamicInt8Facts(
        quantized_engine=engine,
        flow="torch.ao.quantization.quantize_dynamic({nn.Linear}, qint8)",
        weights=weights,
        activations="quantized per call from the observed min/max (uint8, per-tensor affine)",
        quantized_layers=quantized,
        serialized_with=how,
        torch=torch.__version__,
    )
    return Built(target, facts, notes=notes)
