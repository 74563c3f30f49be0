"""Making ONNX Runtime artifacts: a copy of the FP32 export, or an INT8 graph written by
``onnxruntime.quantization``. Each builder returns the artifact with its recipe's facts; the
adapter's base class times the build."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from quantarena import hardware
from quantarena.data.cache import ImageArray
from quantarena.errors import ConfigError
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe
from quantarena.toolchains.onnxruntime.recipes import (
    OrtDynamicInt8,
    OrtDynamicInt8Facts,
    OrtFp32,
    OrtFp32Facts,
    OrtStaticInt8,
    OrtStaticInt8Facts,
    ReduceRange,
)

ARTIFACT = "model.onnx"
#: How results name ONNX Runtime's saturation remedy.
_REMEDY = "reduce_range (7-bit weights)"
#: What ``quantize_dynamic`` writes: integer kernels, and the run-time activation quantizers.
_DYNAMIC_INT8_OPS = {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "QAttention",
                     "DynamicQuantizeMatMul", "QGemm", "QLinearMatMul"}


def build(bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path) -> Built:
    """Dispatch from the recipe's class to its builder; an unknown class is a programming error."""
    target = workdir / ARTIFACT
    match recipe:
        case OrtFp32():
            return build_fp32(bundle, target)
        case OrtStaticInt8():
            return build_static_int8(bundle, recipe, calibration, target)
        case OrtDynamicInt8():
            return build_dynamic_int8(bundle, recipe, target)
    raise TypeError(f"no ONNX Runtime builder for {type(recipe).__name__}")


def build_fp32(bundle: ModelBundle, target: Path) -> Built:
    """A byte copy, so the artifact is self-contained in the variant's folder."""
    import onnx

    target.write_bytes(bundle.onnx_path.read_bytes())
    model = onnx.load(str(target), load_external_data=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return Built(artifact=target, facts=OrtFp32Facts(opset=opset))


class _Reader:
    """``CalibrationDataReader`` over preprocessed calibration images."""

    def __init__(self, images: ImageArray, input_name: str, batch: int) -> None:
        self.batches = iter(images.batches(batch, pad=False))
        self.input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        item = next(self.batches, None)
        return None if item is None else {self.input_name: item[0]}

    def rewind(self) -> None:  # pragma: no cover - only some calibrators call it
        raise RuntimeError("calibration data is single-pass")


def build_static_int8(
    bundle: ModelBundle,
    recipe: OrtStaticInt8,
    calibration: ImageArray,
    target: Path,
    extra_options: dict[str, object] | None = None,
) -> Built:
    """``quantize_static`` with the recipe's knobs; ``extra_options`` adds to (or overrides) the
    quantizer's ``extra_options`` the recipe sets, for a caller that needs more (TensorRT's Q/DQ
    placement)."""
    import onnxruntime
    from onnxruntime import quantization as q

    source = bundle.onnx_path
    prepared = target.parent / "model.prep.onnx"
    if recipe.preprocess:
        q.quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        source = prepared
    count = recipe.calibration_images
    images = calibration if count is None else calibration.subset(count)
    unknown = sorted(set(recipe.nodes_to_exclude) - set(OrtStaticInt8.layers(bundle)))
    if unknown:
        raise ConfigError(f"nodes_to_exclude: the graph has no quantizable node named "
                          f"{', '.join(unknown)}")
    methods = {
        "minmax": q.CalibrationMethod.MinMax,
        "entropy": q.CalibrationMethod.Entropy,
        "percentile": q.CalibrationMethod.Percentile,
    }
    types = {"int8": q.QuantType.QInt8, "uint8": q.QuantType.QUInt8}
    remedy = resolve_reduce_range(
        recipe.reduce_range, activation_type=recipe.activation_type,
        weight_type=recipe.weight_type,
    )
    notes = []
    if recipe.calibration_method == "entropy":
        notes.append(ENTROPY_NOTE)
    batch = recipe.calibration_batch
    if recipe.calibration_method != "minmax":
        batch = even_batch(len(images), batch)
        if batch != recipe.calibration_batch:
            notes.append(
                f"calibration batch {recipe.calibration_batch} -> {batch}: ONNX Runtime's "
                f"histogram calibrators need equal batches ({len(images)} images)"
            )
    q.quantize_static(
        str(source), str(target),
        _Reader(images, bundle.input_name, batch),
        quant_format=q.QuantFormat.QDQ if recipe.quant_format == "qdq" else q.QuantFormat.QOperator,
        per_channel=recipe.per_channel,
        reduce_range=remedy.value is True,
        activation_type=types[recipe.activation_type],
        weight_type=types[recipe.weight_type],
        calibrate_method=methods[recipe.calibration_method],
        nodes_to_exclude=list(recipe.nodes_to_exclude),
        extra_options={
            "ActivationSymmetric": recipe.symmetric_activations,
            "WeightSymmetric": recipe.symmetric_weights,
            **(extra_options or {}),
        },
    )
    prepared.unlink(missing_ok=True)
    facts = OrtStaticInt8Facts(
        calibration_images_used=len(images),
        format="QDQ" if recipe.quant_format == "qdq" else "QOperator",
        onnxruntime=onnxruntime.__version__,
        saturation_remedy=remedy,
    )
    return Built(artifact=target, facts=facts, calibration_images=len(images), notes=notes)


#: ``quantize_static`` passes none of the entropy calibrator's bin counts through, so it runs with
#: 128 histogram bins and 128 quantized bins: the only threshold it can choose is the whole
#: histogram, i.e. the observed min/max (the artifacts are byte-identical to ``minmax``'s).
ENTROPY_NOTE = (
    "calibration_method=entropy: ONNX Runtime's quantize_static runs its entropy calibrator with "
    "128 histogram bins and 128 quantized bins, so the only threshold it can pick is the full "
    "range: the ranges, and the model, are those of minmax"
)


def even_batch(images: int, batch: int) -> int:
    """The largest batch size up to ``batch`` that splits ``images`` into equal batches: the
    entropy and percentile calibrators stack every batch's outputs into one array, and a
    shorter last batch makes that fail (``inhomogeneous shape``)."""
    return max(b for b in range(1, min(batch, images) + 1) if images % b == 0)


def build_dynamic_int8(bundle: ModelBundle, recipe: OrtDynamicInt8, target: Path) -> Built:
    import onnx
    import onnxruntime
    from onnxruntime import quantization as q

    types = {"int8": q.QuantType.QInt8, "uint8": q.QuantType.QUInt8}
    # quantize_dynamic always quantizes activations to uint8 (DynamicQuantizeLinear)
    remedy = resolve_reduce_range(
        recipe.reduce_range, activation_type="uint8", weight_type=recipe.weight_type
    )
    q.quantize_dynamic(
        str(bundle.onnx_path), str(target), per_channel=recipe.per_channel,
        reduce_range=remedy.value is True, weight_type=types[recipe.weight_type],
    )
    integer_ops: dict[str, int] = {}
    for node in onnx.load(str(target), load_external_data=False).graph.node:
        if node.op_type in _DYNAMIC_INT8_OPS:
            integer_ops[node.op_type] = integer_ops.get(node.op_type, 0) + 1
    facts = OrtDynamicInt8Facts(
        integer_ops=dict(sorted(integer_ops.items())), onnxruntime=onnxruntime.__version__,
        saturation_remedy=remedy,
    )
    return Built(artifact=target, facts=facts)


def resolve_reduce_range(
    asked: ReduceRange,
    *,
    activation_type: Literal["uint8", "int8"],
    weight_type: Literal["int8", "uint8"],
) -> hardware.Resolved:
    """``reduce_range`` made concrete for this CPU, with the reason the results record.

    ``auto`` follows the CPU (on exactly where u8×s8 sums saturate), except for uint8 weights with
    uint8 activations: ONNX Runtime runs those with U8U8 kernels, which its quantization guide
    names as the format with no saturation issue, so 7-bit weights would cost precision for
    nothing. ``hardware.this_cpu`` is looked up at call time, so a test can stand in another CPU.
    """
    if asked == "auto" and activation_type == "uint8" and weight_type == "uint8":
        return hardware.Resolved(
            asked="auto", value=False,
            why=f"uint8 weights run U8U8 kernels, whose sums do not saturate: {_REMEDY} not needed",
        )
    return hardware.saturation_remedy(asked, remedy=_REMEDY)
