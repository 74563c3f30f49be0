"""Making the GPU variants' graphs, all on the CPU (no GPU is needed to build): a copy of the FP32
export (CUDA FP32, TensorRT FP16: TensorRT builds its engine when the session is created), ONNX
Runtime's FP16 conversion, or the static Q/DQ INT8 graph written for TensorRT."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe
from quantarena.toolchains.onnxruntime.build import ARTIFACT, build_fp32, build_static_int8
from quantarena.toolchains.onnxruntime.gpu_recipes import (
    OrtCudaFp16,
    OrtCudaFp16Facts,
    OrtCudaFp32,
    OrtCudaFp32Facts,
    OrtTrtFp16,
    OrtTrtFp16Facts,
    OrtTrtInt8,
    OrtTrtInt8Facts,
)

#: ``quantize_static`` extra options TensorRT needs on top of symmetric INT8: biases stay FP32
#: (TensorRT's parser refuses a DequantizeLinear of an INT32 bias and fuses the bias itself), and
#: every consumer gets its own Q/DQ pair (TensorRT cannot share one pair between nodes).
TENSORRT_QDQ_OPTIONS: dict[str, object] = {"QuantizeBias": False, "DedicatedQDQPair": True}

_TYPE_NAMES = {1: "fp32", 10: "fp16", 11: "fp64", 16: "bf16"}  # onnx.TensorProto data types


def build(bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path) -> Built:
    """Dispatch from the recipe's class to its builder; an unknown class is a programming error."""
    target = workdir / ARTIFACT
    match recipe:
        case OrtCudaFp32():
            copied = build_fp32(bundle, target)
            return Built(artifact=target, facts=OrtCudaFp32Facts(**copied.facts.model_dump()))
        case OrtTrtFp16():
            copied = build_fp32(bundle, target)
            return Built(artifact=target, facts=OrtTrtFp16Facts(**copied.facts.model_dump()))
        case OrtCudaFp16():
            return build_fp16(bundle, recipe, target)
        case OrtTrtInt8():
            return build_tensorrt_int8(bundle, recipe, calibration, target)
    raise TypeError(f"no ONNX Runtime builder for {type(recipe).__name__}")


def build_fp16(bundle: ModelBundle, recipe: OrtCudaFp16, target: Path) -> Built:
    """``onnxruntime.transformers.float16.convert_float_to_float16`` with FP32 inputs and
    outputs. The model is loaded here (not passed by path: the converter would write its shape
    inference file next to the bundle's export)."""
    import onnx
    import onnxruntime
    from onnxruntime.transformers import float16

    model = onnx.load(str(bundle.onnx_path))
    casts_before = sum(n.op_type == "Cast" for n in model.graph.node)
    blocked = set(
        float16.DEFAULT_OP_BLOCK_LIST if recipe.op_block_list is None else recipe.op_block_list
    )
    converted = float16.convert_float_to_float16(
        model, keep_io_types=True, op_block_list=sorted(blocked)
    )
    onnx.save_model(converted, str(target))
    ops = Counter(n.op_type for n in converted.graph.node)
    types = Counter(
        _TYPE_NAMES.get(i.data_type, onnx.TensorProto.DataType.Name(i.data_type).lower())
        for i in converted.graph.initializer
    )
    facts = OrtCudaFp16Facts(
        initializers_by_type=dict(sorted(types.items())),
        ops_kept_in_fp32={op: n for op, n in sorted(ops.items()) if op in blocked},
        casts_added=ops["Cast"] - casts_before,
        onnxruntime=onnxruntime.__version__,
    )
    return Built(artifact=target, facts=facts)


def build_tensorrt_int8(
    bundle: ModelBundle, recipe: OrtTrtInt8, calibration: ImageArray, target: Path
) -> Built:
    """The static QDQ build with TensorRT's settings, then the graph checked against TensorRT's
    explicit-quantization rules: a layer that breaks one runs in higher precision on the GPU, so
    the facts list it (and a note says so)."""
    import onnx
    import onnxruntime

    from quantarena.toolchains.tensorrt.qdq_rules import inspect_qdq

    static = build_static_int8(
        bundle, recipe.static_recipe(), calibration, target, extra_options=TENSORRT_QDQ_OPTIONS
    )
    report = inspect_qdq(onnx.load(str(target), load_external_data=False))
    violations = [str(v) for v in report.violations]
    notes = list(static.notes)
    if violations:
        notes.append(f"{len(violations)} Q/DQ placements break TensorRT's explicit-quantization "
                     "rules: TensorRT runs those layers in higher precision (see the facts)")
    facts = OrtTrtInt8Facts(
        calibration_images_used=static.calibration_images,
        onnxruntime=onnxruntime.__version__,
        quantized_layers=len(report.quantized_layers),
        layers_kept_in_high_precision=report.float_layers,
        qdq_rule_violations=violations,
    )
    return Built(artifact=target, facts=facts, calibration_images=static.calibration_images,
                 notes=notes)
