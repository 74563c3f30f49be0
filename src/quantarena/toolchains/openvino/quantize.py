"""What both NNCF INT8 paths share: the FP32 model they start from, the calibration dataset, the
``nncf.quantize`` arguments as enums, the overflow fix resolved for this CPU, and the count that
shows a model was quantized."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from quantarena import hardware
from quantarena.hardware import Resolved
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.openvino.recipes import OvInt8


def read_fp32(bundle: ModelBundle) -> Any:
    """The ONNX export as an ``ov.Model`` (dynamic batch kept, so any batch size runs)."""
    import openvino as ov

    return ov.convert_model(str(bundle.onnx_path))


def nncf_dataset(images: np.ndarray) -> Any:
    """One image per item: NNCF counts ``subset_size`` in items, so items are images."""
    import nncf

    def image(i: int) -> np.ndarray:
        return np.ascontiguousarray(images[i : i + 1], dtype=np.float32)

    return nncf.Dataset(range(len(images)), image)


def quantize_kwargs(recipe: OvInt8, calibration_count: int) -> dict[str, Any]:
    """The NNCF keyword arguments both INT8 recipes share, as enums."""
    import nncf

    return {
        "preset": nncf.QuantizationPreset(recipe.preset),
        "target_device": nncf.TargetDevice(recipe.target_device.upper()),
        "subset_size": min(recipe.subset_size or calibration_count, calibration_count),
        "fast_bias_correction": recipe.fast_bias_correction,
        "model_type": nncf.ModelType(recipe.model_type) if recipe.model_type else None,
    }


#: OpenVINO op types whose weights NNCF quantizes: what a kept ONNX layer becomes after conversion
WEIGHTED_OPS = ("Convolution", "GroupConvolution", "MatMul")


def ignored_scope(recipe: OvInt8, model: Any) -> dict[str, Any]:
    """``ignored_scope`` for NNCF from the recipe's ONNX layer names, or nothing when none is
    kept. OpenVINO names a converted layer after its ONNX node (``/Conv`` becomes
    ``/Conv/WithoutBiases`` when its bias is split off), so each name is matched as itself or
    as a prefix of a weighted op's name; a name that matches none is one clear error."""
    if not recipe.ignored_scope:
        return {}
    import nncf

    from quantarena.errors import ConfigError

    ops = [op.get_friendly_name() for op in model.get_ordered_ops()
           if op.get_type_name() in WEIGHTED_OPS]
    names, unknown = [], []
    for layer in recipe.ignored_scope:
        found = [op for op in ops if op == layer or op.startswith(layer + "/")]
        names += found
        if not found:
            unknown.append(layer)
    if unknown:
        raise ConfigError(f"ignored_scope: the model has no weighted layer named "
                          f"{', '.join(unknown)}")
    return {"ignored_scope": nncf.IgnoredScope(names=names)}


def nncf_default_overflow_fix() -> str | None:
    """The overflow fix NNCF applies when asked none, in the knob's words, or ``None`` where this
    NNCF does not say.

    ``AdvancedQuantizationParameters.overflow_fix`` defaults to ``None``; ``MinMaxQuantization``
    then takes ``MODE_BASED_DEFAULTS[mode].overflow_fix`` for the quantization mode (``None`` here:
    integer INT8, as both recipes quantize; the FP8 modes default to DISABLE), which is
    ``OverflowFix.FIRST_LAYER`` in NNCF 3.4. That table is read rather than copied, so a release
    that changes it is followed. (NNCF also turns ``None`` into DISABLE when weights or
    activations are not 8-bit; both recipes are A8W8, so that branch never applies.)
    """
    try:
        from nncf.quantization.algorithms.min_max.algorithm import MODE_BASED_DEFAULTS

        member = MODE_BASED_DEFAULTS[None].overflow_fix
        return str(member.name).lower()
    except (ImportError, AttributeError, KeyError):  # internals moved: let NNCF decide itself
        return None


def resolve_overflow_fix(recipe: OvInt8, cpu: hardware.Int8Arithmetic | None = None) -> Resolved:
    """``recipe.overflow_fix`` made concrete for this CPU (``auto``: "enable" where u8×s8 sums
    saturate, else NNCF's own default), with why. ``value`` is what NNCF will be given; ``None``
    only when NNCF's default is unreadable, and then NNCF is given nothing and decides alone."""
    cpu = cpu or hardware.this_cpu()
    asked = recipe.overflow_fix
    if asked != "auto":
        why = f"asked by the recipe; CPU: {cpu.describe()}"
        if cpu.saturates and asked != "enable":
            why += "; u8×s8 sums can saturate here on layers with full-range weights"
        return Resolved(asked=asked, value=asked, why=why)
    if cpu.saturates:
        return Resolved(
            asked="auto", value="enable",
            why=f"{cpu.describe()}: NNCF's overflow fix halves the weight range of every "
            "non-depthwise convolution and MatMul, so their u8×s8 pair sums fit in 16 bits",
        )
    default = nncf_default_overflow_fix()
    shown = default if default is not None else "not readable from this NNCF, left to NNCF"
    return Resolved(
        asked="auto", value=default,
        why=f"{cpu.describe()}: no saturation, so NNCF {nncf_version()}'s own default ({shown})",
    )


def advanced_parameters(resolved: Resolved, base: Any | None = None) -> Any:
    """``AdvancedQuantizationParameters`` with the resolved overflow fix, on a copy of ``base``
    (advanced parameters a caller already has) so nothing else in it changes. ``value`` ``None``
    keeps NNCF's own choice (the field's default is ``None`` too)."""
    from nncf import OverflowFix
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    fix = None if resolved.value is None else OverflowFix[str(resolved.value).upper()]
    if base is None:
        return AdvancedQuantizationParameters(overflow_fix=fix)
    return dataclasses.replace(base, overflow_fix=fix)


def count_fake_quantize(model: Any) -> int:
    return sum(1 for op in model.get_ops() if op.get_type_name() == "FakeQuantize")


def nncf_version() -> str:
    import nncf

    return str(nncf.__version__)
