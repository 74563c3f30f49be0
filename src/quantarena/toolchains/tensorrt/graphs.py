"""The ONNX graphs TensorRT builds from, made with NVIDIA ModelOpt on the CPU.

ModelOpt places Q/DQ nodes the way TensorRT fuses them (symmetric INT8, per-channel weights along
the output channels, the skip input of residual adds quantized, GEMV-shaped layers left in float)
and calibrates with ONNX Runtime. ``calibration_eps=["cpu"]`` keeps calibration off the GPU, so the
graph is identical whether it is then built into an engine or simulated on a CPU-only machine.
``high_precision_dtype="fp32"`` matters for that simulation: ModelOpt's default (fp16) converts the
unquantized rest of the graph to FP16, which ONNX Runtime's CPU provider runs incorrectly.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from quantarena.data.cache import ImageArray
from quantarena.errors import ModelError
from quantarena.toolchains.tensorrt.qdq_rules import inspect_qdq
from quantarena.toolchains.tensorrt.recipes import AutocastFacts, QdqGraphFacts, QdqKnobs


def _staged_copy(source: Path, workdir: Path, name: str) -> Path:
    """ModelOpt writes intermediate files next to its input: give it a private copy, so the shared
    FP32 bundle folder stays untouched."""
    staged = workdir / name
    shutil.copyfile(source, staged)
    return staged


@contextmanager
def onnxruntime_quantization_restored() -> Iterator[None]:
    """Undo ModelOpt's process-wide patches of ``onnxruntime.quantization`` when it returns.

    ModelOpt rebinds calibrator and quantizer methods and edits the operator registries of ONNX
    Runtime's quantization package, and leaves them so. A later ``onnxruntime:int8`` build in the
    same process (a test session, a library user) would then run ModelOpt's variant of ONNX
    Runtime's quantizer, or fail. Workers isolate builds anyway; this keeps in-process use honest.
    """
    import modelopt.onnx.quantization  # noqa: F401 - imports every ORT module it will patch

    saved: list[tuple[Any, dict[str, Any]]] = []
    registries: list[tuple[dict[Any, Any], dict[Any, Any]]] = []
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("onnxruntime.quantization"):
            continue
        saved.append((module, dict(vars(module))))
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == name:
                saved.append((value, dict(vars(value))))
            elif isinstance(value, dict):
                registries.append((value, dict(value)))
    try:
        yield
    finally:
        for owner, before in saved:
            current = vars(owner)
            for key, value in before.items():
                if key not in ("__dict__", "__weakref__") and current.get(key) is not value:
                    setattr(owner, key, value)
            for key in [k for k in current if k not in before and not k.startswith("__")]:
                delattr(owner, key)
        for registry, before_items in registries:
            registry.clear()
            registry.update(before_items)


def export_qdq_int8(
    onnx_path: Path, input_name: str, recipe: QdqKnobs, calibration: ImageArray, target: Path,
    *, high_precision_dtype: Literal["fp32", "fp16"] = "fp32",
) -> QdqGraphFacts:
    """Write the calibrated Q/DQ INT8 graph to ``target``; fail with every rule it breaks.

    Returns what the results disclose: quantized and float layers, calibration images used.
    """
    import numpy as np
    from modelopt.onnx.quantization import quantize

    count = recipe.calibration_images
    images = calibration if count is None else calibration.subset(count)
    if len(images) == 0:
        raise ModelError("INT8 calibration needs at least one calibration image")
    staged = _staged_copy(onnx_path, target.parent, "fp32-staged.onnx")
    try:
        with onnxruntime_quantization_restored():
            quantize(
                str(staged),
                quantize_mode="int8",
                calibration_data={
                    input_name: np.ascontiguousarray(images.images, dtype=np.float32)
                },
                calibration_method=recipe.calibration_method,
                calibration_eps=["cpu"],
                high_precision_dtype=high_precision_dtype,
                dq_only=recipe.dq_only,
                output_path=str(target),
                log_level="WARNING",
            )
    finally:
        staged.unlink(missing_ok=True)
    if not target.exists():
        raise ModelError(f"ModelOpt wrote no quantized graph at {target}")
    report = inspect_qdq(target)
    if not report.ok:
        shown = "\n  ".join(str(v) for v in report.violations[:10])
        extra = len(report.violations) - 10
        more = f"\n  ... and {extra} more" if extra > 0 else ""
        raise ModelError(
            f"the Q/DQ graph breaks TensorRT's explicit-quantization rules "
            f"({len(report.violations)} violations):\n  {shown}{more}"
        )
    return QdqGraphFacts(
        high_precision_dtype=high_precision_dtype, calibration_images_used=len(images),
        quantized_layers=len(report.quantized_layers),
        layers_kept_in_high_precision=report.float_layers,
    )


def export_fp16(onnx_path: Path, target: Path) -> AutocastFacts:
    """Write an FP16 graph with FP32 inputs/outputs (ModelOpt AutoCast, TensorRT 11's replacement
    for the removed FP16 builder flag); initializers AutoCast keeps in FP32 are counted."""
    import onnx
    from modelopt.onnx.autocast import convert_to_mixed_precision

    staged = _staged_copy(onnx_path, target.parent, "fp32-staged.onnx")
    try:
        model = convert_to_mixed_precision(
            onnx_path=str(staged), low_precision_type="fp16", keep_io_types=True,
            providers=["cpu"],
        )
    finally:
        staged.unlink(missing_ok=True)
    onnx.save(model, str(target))
    float_types = {onnx.TensorProto.FLOAT16: "fp16", onnx.TensorProto.FLOAT: "fp32"}
    kinds: dict[str, int] = {}
    for initializer in model.graph.initializer:
        kind = float_types.get(initializer.data_type)
        if kind:
            kinds[kind] = kinds.get(kind, 0) + 1
    return AutocastFacts(initializers_by_type=kinds)
