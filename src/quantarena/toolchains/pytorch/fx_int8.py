"""FX graph-mode static INT8: works on any symbolically traceable module, no quantizable twin.

FX finds conv+bn+relu patterns and functional adds itself, so it quantizes the plain torchvision
model the FP32 reference runs. The converted GraphModule is saved as TorchScript.
"""

from __future__ import annotations

import time
from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildResult
from quantarena.toolchains.pytorch import _common
from quantarena.toolchains.pytorch.fp32 import TorchModuleSession
from quantarena.toolchains.pytorch.recipes import TorchFxInt8


def build(bundle: ModelBundle, recipe: TorchFxInt8, calibration: ImageArray, workdir: Path) -> BuildResult:
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    start = time.perf_counter()
    notes: list[str] = []
    images = _common.select_images(calibration, recipe.calibration_images)
    example = _common.example_inputs(images)
    with _common.captured_warnings(notes):
        _common.set_engine(recipe.engine)
        mapping = get_default_qconfig_mapping(recipe.engine)
        try:
            prepared = prepare_fx(bundle.load_torch_module(), mapping, example)
        except Exception as exc:
            raise RuntimeError(
                f"{bundle.torch_arch} is not symbolically traceable by torch.fx "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "try pytorch:int8-pt2e"
            ) from exc
        seen = _common.calibrate(prepared, images, recipe.calibration_batch)
        converted = convert_fx(prepared)
        target = workdir / "model.int8-fx.torchscript.pt"
        how = _common.save_torchscript(converted, example, target)
    details = {
        "engine": recipe.engine,
        "flow": "torch.ao.quantization FX: prepare_fx, calibrate, convert_fx",
        "qconfig_mapping": f"get_default_qconfig_mapping({recipe.engine!r})",
        **_common.describe_qconfig(mapping.global_qconfig),
        "calibration_images": seen,
        "serialized_with": how,
        "quantized_modules": _common.count_modules(converted),
        "torch": torch.__version__,
    }
    return BuildResult(target, time.perf_counter() - start, seen, details, notes)


def load(artifact: Path, recipe: TorchFxInt8, threads: int) -> TorchModuleSession:
    module, notes = _common.load_torchscript(artifact, recipe.engine)
    return TorchModuleSession(module, {"engine": recipe.engine, "format": "TorchScript (FX INT8)", "load_notes": notes})
