"""Quantization-aware training with PT2E, distilled from the FP32 model, then INT8 via Inductor.

The training loop is ``_distill.py``'s, shared with eager QAT. The result is saved like
``int8-pt2e`` and loads through the same Inductor path; the model form (as defined, quantizable
twin, or reused modules split) is resolved like ``int8-pt2e``'s.
"""

from __future__ import annotations

import time
from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
from quantarena.toolchains.pytorch import _common, _distill, _module_form, _pt2e
from quantarena.toolchains.pytorch.facts import QatSeconds, TorchQatInt8Facts
from quantarena.toolchains.pytorch.recipes import TorchQatInt8


def build(
    bundle: ModelBundle, recipe: TorchQatInt8, calibration: ImageArray, workdir: Path
) -> Built:
    import torch
    import torchao
    from torchao.quantization import pt2e
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

    # Sub-step clocks: where the build's time went is a fact (the adapter times the whole build).
    started = time.perf_counter()
    notes: list[str] = []
    torch.manual_seed(recipe.seed)
    images = _common.select_images(calibration, recipe.calibration_images)
    example = _common.example_inputs(images)
    target = workdir / "model.int8-qat.pt2"
    remedy = _pt2e.resolve_reduce_range(recipe.reduce_range)
    reduce_range = bool(remedy.value)
    switch = _distill.ObserverSwitch(pt2e.enable_observer, pt2e.disable_observer)
    with _common.captured_warnings(notes):
        taught = _distill.teacher(bundle, images)
        quantizer, config = _pt2e.x86_quantizer(is_qat=True, reduce_range=reduce_range)
        captured, form = _module_form.exported_for_pt2e(
            bundle, recipe.module_form, example, train=True
        )
        student = prepare_qat_pt2e(captured, quantizer)
        prepared = time.perf_counter()
        # Batch norm on running statistics from step 0; dropout off.
        pt2e.move_exported_model_to_eval(student)
        _common.calibrate(student, images, recipe.batch_size)  # initialize observer ranges
        training_started = time.perf_counter()
        training = _distill.distill(student, taught, recipe, switch)
        trained = time.perf_counter()
        converted = convert_pt2e(student)
        dropped = _pt2e.save_converted(converted, example, target)
    activations, weights = _pt2e.describe_config(config)
    facts = TorchQatInt8Facts(
        quantized_engine=_pt2e.KERNELS,
        flow="torch.export (train), prepare_qat_pt2e, distill, convert_pt2e, torch.export.save",
        quantizer="torchao X86InductorQuantizer, "
        f"get_default_x86_inductor_quantization_config(is_qat=True, reduce_range={reduce_range})",
        activations=activations,
        weights=weights,
        fp32_tensors_dropped=len(dropped),
        compiler=_pt2e.compiler(recipe.freezing),
        saturation_remedy=_pt2e.remedy_fact(remedy, activations),
        quantized_form=form,
        **_distill.describe(recipe),
        **training.loss_facts(),
        seconds=QatSeconds(
            export_and_prepare=round(prepared - started, 2),
            training=round(trained - training_started, 2),
            convert_and_save=round(time.perf_counter() - trained, 2),
        ),
        torch=torch.__version__,
        torchao=torchao.__version__,
    )
    return Built(target, facts, calibration_images=len(images), notes=notes)
