"""Eager-mode static INT8: the classic ``torch.ao.quantization`` flow.

Eager mode cannot quantize an arbitrary module: it needs QuantStub/DeQuantStub, FloatFunctional
adds and a ``fuse_model`` method, which only torchvision's quantizable twins provide. The FP32
bundle's weights are loaded into that twin, so the model is the same one every variant uses.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Availability, BuildResult
from quantarena.toolchains.pytorch import _common
from quantarena.toolchains.pytorch.fp32 import TorchModuleSession
from quantarena.toolchains.pytorch.recipes import TorchEagerInt8

#: Architectures with a quantizable twin whose state dict matches the plain torchvision model.
QUANTIZABLE = frozenset({
    "mobilenet_v2", "mobilenet_v3_large", "resnet18", "resnet50",
    "resnext101_32x8d", "resnext101_64x4d",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
})


def supports(bundle: ModelBundle, recipe: TorchEagerInt8) -> Availability:
    if bundle.torch_arch not in QUANTIZABLE:
        return Availability.no(
            f"torchvision has no quantizable version of {bundle.torch_arch} (eager mode needs one; "
            f"it has: {', '.join(sorted(QUANTIZABLE))}); use pytorch:int8-fx or pytorch:int8-pt2e"
        )
    return Availability.yes()


def _quantizable_twin(bundle: ModelBundle) -> Any:
    import torchvision

    assert bundle.torch_arch is not None
    twin = getattr(torchvision.models.quantization, bundle.torch_arch)(weights=None, quantize=False)
    twin.load_state_dict(bundle.load_torch_module().state_dict())
    return twin.eval()


def build(bundle: ModelBundle, recipe: TorchEagerInt8, calibration: ImageArray, workdir: Path) -> BuildResult:
    import torch
    from torch.ao import quantization as tq

    start = time.perf_counter()
    notes: list[str] = []
    images = _common.select_images(calibration, recipe.calibration_images)
    with _common.captured_warnings(notes):
        _common.set_engine(recipe.engine)
        model = _quantizable_twin(bundle)
        model.fuse_model(is_qat=False)
        qconfig = tq.get_default_qconfig(recipe.engine)
        model.qconfig = qconfig
        tq.prepare(model, inplace=True)
        seen = _common.calibrate(model, images, recipe.calibration_batch)
        tq.convert(model, inplace=True)
        target = workdir / "model.int8-eager.torchscript.pt"
        how = _common.save_torchscript(model, _common.example_inputs(images), target)
    details = {
        "engine": recipe.engine,
        "flow": "torch.ao.quantization eager: fuse_model, prepare, calibrate, convert",
        "fused": "conv+bn(+relu) by the quantizable model's fuse_model()",
        **_common.describe_qconfig(qconfig),
        "calibration_images": seen,
        "serialized_with": how,
        "quantized_modules": _common.count_modules(model),
        "torch": torch.__version__,
    }
    return BuildResult(target, time.perf_counter() - start, seen, details, notes)


def load(artifact: Path, recipe: TorchEagerInt8, threads: int) -> TorchModuleSession:
    module, notes = _common.load_torchscript(artifact, recipe.engine)
    return TorchModuleSession(module, {"engine": recipe.engine, "format": "TorchScript (eager-mode INT8)", "load_notes": notes})
