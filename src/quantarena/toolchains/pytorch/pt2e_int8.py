"""PT2E static INT8: ``torch.export`` + torchao's X86InductorQuantizer, run by Inductor.

This is the path PyTorch recommends for CPU INT8 now that ``torch.ao.quantization`` is deprecated.
The converted graph holds quantize/dequantize ops around FP32 ops; only Inductor with freezing
turns them into oneDNN INT8 kernels, so the artifact is compiled when a worker loads it.
"""

from __future__ import annotations

import time
from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Availability, BuildResult
from quantarena.toolchains.pytorch import _common, _inductor, _pt2e
from quantarena.toolchains.pytorch.fp32 import TorchModuleSession
from quantarena.toolchains.pytorch.recipes import TorchPt2eInt8


def supports(bundle: ModelBundle, recipe: TorchPt2eInt8) -> Availability:
    return _pt2e.supports(bundle)


def build(bundle: ModelBundle, recipe: TorchPt2eInt8, calibration: ImageArray, workdir: Path) -> BuildResult:
    import torch
    import torchao
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    start = time.perf_counter()
    notes: list[str] = []
    images = _common.select_images(calibration, recipe.calibration_images)
    example = _common.example_inputs(images)
    target = workdir / "model.int8-pt2e.pt2"
    with _common.captured_warnings(notes):
        quantizer, config = _pt2e.x86_quantizer(is_qat=False, reduce_range=recipe.reduce_range)
        captured = _inductor.export_dynamic(bundle.load_torch_module(), example).module()
        prepared = prepare_pt2e(captured, quantizer)
        seen = _common.calibrate(prepared, images, recipe.calibration_batch)
        converted = convert_pt2e(prepared)
        dropped = _pt2e.save_converted(converted, example, target)
    details = {
        "engine": "onednn (Inductor lowering)",
        "flow": "torch.export, prepare_pt2e, calibrate, convert_pt2e, torch.export.save",
        "quantizer": "torchao X86InductorQuantizer, get_default_x86_inductor_quantization_config()",
        **_pt2e.describe_config(config),
        "fused": "conv+bn folded by prepare_pt2e",
        "calibration_images": seen,
        "fp32_tensors_dropped": len(dropped),
        "compiler": "inductor with freezing, at load" if recipe.freezing else "inductor without freezing, at load",
        "torch": torch.__version__,
        "torchao": torchao.__version__,
    }
    return BuildResult(target, time.perf_counter() - start, seen, details, notes)


def load(artifact: Path, recipe: TorchPt2eInt8, threads: int) -> TorchModuleSession:
    return _inductor.load_compiled(artifact, freezing=recipe.freezing, quantized=True)
