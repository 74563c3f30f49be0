"""Eager-mode quantization-aware training, as published comparisons run "PyTorch QAT".

torchvision's quantizable twin holds the bundle's weights; ``fuse_model(is_qat=True)`` fuses
conv+bn(+relu) into QAT modules, ``prepare_qat`` inserts the engine's QAT fake quantizers, and the
model trains with ``_distill.py``'s loop — the same teacher, images, loss, optimizer and step budget
as ``int8-qat`` (PT2E), so the two QAT paths differ only in the flow. As there, batch norm runs on
its running statistics from step 0 and dropout is off (the model is in eval mode: fake quantizers
and observers are switched by their own flags, not by the mode), observers freeze at
``freeze_observers_step``, and ``convert`` folds batch norm and writes a TorchScript INT8 module.
"""

from __future__ import annotations

import time
from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
from quantarena.toolchains.pytorch import _common, _distill, _module_form
from quantarena.toolchains.pytorch.facts import QatSeconds, TorchQatEagerInt8Facts
from quantarena.toolchains.pytorch.recipes import TorchQatEagerInt8


def build(
    bundle: ModelBundle, recipe: TorchQatEagerInt8, calibration: ImageArray, workdir: Path
) -> Built:
    import torch
    from torch.ao import quantization as tq
    from torch.ao.nn.intrinsic import qat as intrinsic_qat

    started = time.perf_counter()
    notes: list[str] = []
    torch.manual_seed(recipe.seed)
    images = _common.select_images(calibration, recipe.calibration_images)
    target = workdir / "model.int8-qat-eager.torchscript.pt"
    switch = _distill.ObserverSwitch(tq.enable_observer, tq.disable_observer)
    with _common.captured_warnings(notes):
        engine = _common.set_engine(recipe.engine)
        taught = _distill.teacher(bundle, images)
        student = _module_form.quantizable_twin(bundle).train()
        student.fuse_model(is_qat=True)
        qconfig = tq.get_default_qat_qconfig(recipe.engine)  # type: ignore[no-untyped-call]  # untyped torch API
        student.qconfig = qconfig
        tq.prepare_qat(student, inplace=True)  # type: ignore[no-untyped-call]  # untyped torch API
        student.apply(intrinsic_qat.freeze_bn_stats)
        student.eval()  # batch norm on running statistics, dropout off
        prepared = time.perf_counter()
        _common.calibrate(student, images, recipe.batch_size)  # initialize observer ranges
        training_started = time.perf_counter()
        training = _distill.distill(student, taught, recipe, switch)
        trained = time.perf_counter()
        student.apply(tq.disable_observer)
        tq.convert(student, inplace=True)  # type: ignore[no-untyped-call]  # untyped torch API
        how = _common.save_torchscript(student, _common.example_inputs(images), target)
        # Instantiating the observers to read them back warns about their deprecated settings.
        activations, weights = _common.describe_qconfig(qconfig)
        remedy = _common.qconfig_remedy(qconfig, f"get_default_qat_qconfig({recipe.engine!r})")
    facts = TorchQatEagerInt8Facts(
        quantized_engine=engine,
        flow="torch.ao.quantization eager QAT: fuse_model(is_qat=True), prepare_qat, distill, "
        "convert",
        fused="conv+bn(+relu) into QAT modules by the quantizable model's fuse_model(is_qat=True)",
        activations=activations,
        weights=weights,
        serialized_with=how,
        quantized_modules=_common.count_modules(student),
        saturation_remedy=remedy,
        **_distill.describe(recipe),
        **training.loss_facts(),
        seconds=QatSeconds(
            export_and_prepare=round(prepared - started, 2),
            training=round(trained - training_started, 2),
            convert_and_save=round(time.perf_counter() - trained, 2),
        ),
        torch=torch.__version__,
    )
    return Built(target, facts, calibration_images=len(images), notes=notes)
