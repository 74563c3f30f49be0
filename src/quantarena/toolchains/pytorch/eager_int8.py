"""Eager-mode static INT8: the classic ``torch.ao.quantization`` flow.

Eager mode cannot quantize an arbitrary module: it needs QuantStub/DeQuantStub, FloatFunctional
adds and a ``fuse_model`` method, which only torchvision's quantizable twins provide (the recipe's
``model_problem`` names the architectures that have one). The FP32 bundle's weights are loaded
into that twin, so the model is the same one every variant uses.
"""

from __future__ import annotations

from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
from quantarena.toolchains.pytorch import _common, _module_form
from quantarena.toolchains.pytorch.facts import TorchEagerInt8Facts
from quantarena.toolchains.pytorch.recipes import TorchEagerInt8


def build(
    bundle: ModelBundle, recipe: TorchEagerInt8, calibration: ImageArray, workdir: Path
) -> Built:
    import torch
    from torch.ao import quantization as tq

    notes: list[str] = []
    images = _common.select_images(calibration, recipe.calibration_images)
    target = workdir / "model.int8-eager.torchscript.pt"
    with _common.captured_warnings(notes):
        engine = _common.set_engine(recipe.engine)
        model = _module_form.quantizable_twin(bundle)
        model.fuse_model(is_qat=False)
        # torch.ao.quantization's eager API has no annotations
        qconfig = tq.get_default_qconfig(recipe.engine)  # type: ignore[no-untyped-call]  # untyped torch API
        model.qconfig = qconfig
        tq.prepare(model, inplace=True)  # type: ignore[no-untyped-call]  # untyped torch API
        seen = _common.calibrate(model, images, recipe.calibration_batch)
        tq.convert(model, inplace=True)  # type: ignore[no-untyped-call]  # untyped torch API
        how = _common.save_torchscript(model, _common.example_inputs(images), target)
        # Instantiating the observers to read them back warns about their deprecated settings.
        activations, weights = _common.describe_qconfig(qconfig)
        remedy = _common.qconfig_remedy(qconfig, f"get_default_qconfig({recipe.engine!r})")
    facts = TorchEagerInt8Facts(
        quantized_engine=engine,
        flow="torch.ao.quantization eager: fuse_model, prepare, calibrate, convert",
        fused="conv+bn(+relu) by the quantizable model's fuse_model()",
        activations=activations,
        weights=weights,
        serialized_with=how,
        quantized_modules=_common.count_modules(model),
        saturation_remedy=remedy,
        torch=torch.__version__,
    )
    return Built(target, facts, calibration_images=seen, notes=notes)
