"""Making OpenVINO artifacts: every variant is an IR (``model.xml`` + ``model.bin``) converted from
the bundle's FP32 ONNX export, quantized by NNCF for the INT8 recipes. Builders return the IR with
their recipe's facts; the adapter's base class times the build."""

from __future__ import annotations

from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe
from quantarena.toolchains.openvino.accuracy_control import build_accuracy_control
from quantarena.toolchains.openvino.quantize import (
    advanced_parameters,
    count_fake_quantize,
    ignored_scope,
    nncf_dataset,
    nncf_version,
    quantize_kwargs,
    read_fp32,
    resolve_overflow_fix,
)
from quantarena.toolchains.openvino.recipes import (
    OvFp32,
    OvFp32Facts,
    OvInt8,
    OvInt8AccuracyControl,
    OvInt8Facts,
)
from quantarena.toolchains.openvino.runtime import save_ir

ARTIFACT = "model.xml"


def build(bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path) -> Built:
    """Dispatch from the recipe's class to its builder (the subclass before its parent)."""
    target = workdir / ARTIFACT
    match recipe:
        case OvFp32():
            return build_fp32(bundle, target)
        case OvInt8AccuracyControl():
            return build_accuracy_control(bundle, recipe, calibration, target)
        case OvInt8():
            return build_int8(bundle, recipe, calibration, target)
    raise TypeError(f"no OpenVINO builder for {type(recipe).__name__}")


def build_fp32(bundle: ModelBundle, target: Path) -> Built:
    save_ir(read_fp32(bundle), target)
    return Built(artifact=target, facts=OvFp32Facts())


def build_int8(bundle: ModelBundle, recipe: OvInt8, calibration: ImageArray, target: Path) -> Built:
    import nncf

    kwargs = quantize_kwargs(recipe, len(calibration))
    remedy = resolve_overflow_fix(recipe)
    fp32 = read_fp32(bundle)
    quantized = nncf.quantize(
        fp32, nncf_dataset(calibration.images), **ignored_scope(recipe, fp32),
        advanced_parameters=advanced_parameters(remedy), **kwargs,
    )
    save_ir(quantized, target)
    used = int(kwargs["subset_size"])
    facts = OvInt8Facts(
        calibration_images_used=used, fake_quantize_nodes=count_fake_quantize(quantized),
        nncf=nncf_version(), saturation_remedy=remedy,
    )
    return Built(artifact=target, facts=facts, calibration_images=used)
