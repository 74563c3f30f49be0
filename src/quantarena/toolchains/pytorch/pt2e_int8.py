"""PT2E static INT8: ``torch.export`` + torchao's X86InductorQuantizer, run by Inductor.

This is the path PyTorch recommends for CPU INT8 now that ``torch.ao.quantization`` is deprecated.
The converted graph holds quantize/dequantize ops around FP32 ops; only Inductor with freezing
turns them into oneDNN INT8 kernels, so the artifact is compiled when a worker loads it.

The model form is resolved per model (``_module_form.py``: ResNets go through torchvision's
quantizable twin, other models that call a module twice through a metadata rewrite), and
``reduce_range`` is resolved for the CPU here (``auto``: 7-bit activations where u8×s8 sums
saturate) and the facts record what was asked, what it became and why. Modules named in
``fp32_modules`` are matched to the exported graph's ``nn_module_stack`` labels and given no
quantization config (``set_module_name_qconfig(label, None)``), so their convolutions stay FP32
under Inductor too.
"""

from __future__ import annotations

from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
from quantarena.toolchains.pytorch import _common, _fp32_layers, _module_form, _pt2e
from quantarena.toolchains.pytorch.facts import TorchPt2eInt8Facts
from quantarena.toolchains.pytorch.recipes import TorchPt2eInt8


def build(
    bundle: ModelBundle, recipe: TorchPt2eInt8, calibration: ImageArray, workdir: Path
) -> Built:
    import torch
    import torchao
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    notes: list[str] = []
    images = _common.select_images(calibration, recipe.calibration_images)
    example = _common.example_inputs(images)
    target = workdir / "model.int8-pt2e.pt2"
    remedy = _pt2e.resolve_reduce_range(recipe.reduce_range)
    reduce_range = bool(remedy.value)
    with _common.captured_warnings(notes):
        quantizer, config = _pt2e.x86_quantizer(is_qat=False, reduce_range=reduce_range)
        captured, form = _module_form.exported_for_pt2e(
            bundle, recipe.module_form, example, train=False
        )
        for label in _fp32_layers.pt2e_labels(recipe.fp32_modules, captured):
            quantizer.set_module_name_qconfig(label, None)
        prepared = prepare_pt2e(captured, quantizer)
        seen = _common.calibrate(prepared, images, recipe.calibration_batch)
        converted = convert_pt2e(prepared)
        kept = _fp32_layers.pt2e_float_layers(converted)
        dropped = _pt2e.save_converted(converted, example, target)
    activations, weights = _pt2e.describe_config(config)
    facts = TorchPt2eInt8Facts(
        quantized_engine=_pt2e.KERNELS,
        flow="torch.export, prepare_pt2e, calibrate, convert_pt2e, torch.export.save",
        quantizer="torchao X86InductorQuantizer, "
        f"get_default_x86_inductor_quantization_config(reduce_range={reduce_range})",
        activations=activations,
        weights=weights,
        fused="conv+bn folded by prepare_pt2e",
        fp32_tensors_dropped=len(dropped),
        compiler=_pt2e.compiler(recipe.freezing),
        saturation_remedy=_pt2e.remedy_fact(remedy, activations),
        quantized_form=form,
        torch=torch.__version__,
        torchao=torchao.__version__,
        layers_kept_in_fp32=kept,
    )
    return Built(target, facts, calibration_images=seen, notes=notes)
