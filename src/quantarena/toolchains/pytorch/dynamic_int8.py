"""Dynamic INT8 of ``nn.Linear`` layers. On a CNN only the classifier is quantized, so speed and
size barely move: the variant is in the table to show that, not to win.

Only Linear layers the model *calls* are replaced. Some models read a Linear's ``weight`` and
``bias`` themselves (torchvision's Swin passes ``self.qkv.weight`` to a functional attention);
``quantize_dynamic`` would turn that ``weight`` into a method and the model would fail with
"linear(): argument 'weight' must be Tensor, not method". Such layers stay FP32 and are listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
        module = _common.fp32_module(bundle)
        called, skipped = _called_linears(module, _common.example_inputs(calibration))
        # quantize_dynamic has no annotations
        model = quantize_dynamic(  # type: ignore[no-untyped-call]  # untyped torch API
            module, dict.fromkeys(called, default_dynamic_qconfig), dtype=torch.qint8
        )
        how = _common.save_torchscript(model, _common.example_inputs(calibration), target)
        weights = _common.describe_observer(default_dynamic_qconfig.weight)
    quantized = [
        name for name, m in model.named_modules()
        if type(m).__name__ == "Linear" and "dynamic" in type(m).__module__
    ]
    if skipped:
        shown = ", ".join(skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        notes.append(
            f"{len(skipped)} nn.Linear layers stay FP32: the model reads their weights directly "
            f"instead of calling them ({shown})"
        )
    if not quantized:
        notes.append("the model calls no nn.Linear layer: nothing was quantized")
    facts = TorchDynamicInt8Facts(
        quantized_engine=engine,
        flow="torch.ao.quantization.quantize_dynamic(every called nn.Linear, qint8)",
        weights=weights,
        activations="quantized per call from the observed min/max (uint8, per-tensor affine)",
        quantized_layers=quantized,
        fp32_linear_layers=skipped,
        serialized_with=how,
        torch=torch.__version__,
    )
    return Built(target, facts, notes=notes)


def _called_linears(module: Any, example: tuple[Any, ...]) -> tuple[list[str], list[str]]:
    """(Linear layers whose forward runs on a real batch, Linear layers never called): forward
    hooks on every Linear, one FP32 forward pass."""
    import torch

    linears = {n: m for n, m in module.named_modules() if isinstance(m, torch.nn.Linear)}
    called: set[str] = set()
    handles = [
        m.register_forward_hook(lambda *_, name=n: called.add(name)) for n, m in linears.items()
    ]
    try:
        with torch.no_grad():
            module(*example)
    finally:
        for handle in handles:
            handle.remove()
    return [n for n in linears if n in called], [n for n in linears if n not in called]
