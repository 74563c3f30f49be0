"""``nncf.quantize_with_accuracy_control``: INT8, then layers reverted to floating point until the
top-1 drop on a validation part of the calibration split is within ``max_drop``.

NNCF reports the reverted layers only in its log. Here they are read from the models instead:
NNCF saves the fully quantized model before restoring accuracy (``intermediate_model_dir``), and
a layer counts as reverted when it takes a quantized input (a FakeQuantize output or int8
weights) in that model but not in the final one. The validation drops are measured here too, with
the same f32 compile NNCF validates with.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.errors import ConfigError
from quantarena.hardware import Resolved
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
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
from quantarena.toolchains.openvino.recipes import OvAccuracyControlFacts, OvInt8AccuracyControl
from quantarena.toolchains.openvino.runtime import compile_model, save_ir, top1

#: Ops that only move, hold or convert data: never counted as layers, and looked through when
#: tracing a layer's input back to a quantizer.
_PASS_THROUGH = {"Convert", "Reshape", "Transpose", "Squeeze", "Unsqueeze"}
#: Dequantization arithmetic (``(w - zero_point) * scale``): looked through when the second
#: operand is a constant.
_SCALE = {"Multiply", "Subtract"}
_NOT_LAYERS = {"FakeQuantize", "Constant", "Parameter", "Result"} | _PASS_THROUGH
_LOW_PRECISION = {"i8", "u8", "i4", "u4"}


def _producer(node: Any, port: int) -> Any:
    return node.input(port).get_source_output().get_node()


def _from_quantizer(node: Any, depth: int = 0) -> bool:
    """Does this value come from a FakeQuantize, or from an int8 constant (weights NNCF has
    already compressed), through data-movement and dequantization ops only?"""
    kind = node.get_type_name()
    if kind == "FakeQuantize":
        return True
    if kind == "Constant":
        return node.get_output_element_type(0).get_type_name() in _LOW_PRECISION
    if depth > 6:
        return False
    if kind in _PASS_THROUGH:
        return _from_quantizer(_producer(node, 0), depth + 1)
    if kind in _SCALE and _producer(node, 1).get_type_name() == "Constant":
        return _from_quantizer(_producer(node, 0), depth + 1)
    return False


def _is_weight_decompression(node: Any) -> bool:
    """``Constant(int8) -> Convert -> [Subtract] -> Multiply``: part of a weight, not a layer."""
    while node.get_type_name() in _PASS_THROUGH | _SCALE:
        node = _producer(node, 0)
    return bool(node.get_type_name() == "Constant")


def quantized_layers(model: Any) -> set[str]:
    """Friendly names of the ops that take a quantized input (activation or weight).

    Weights are FakeQuantize nodes before NNCF compresses them and int8 constants after, so the
    fully quantized (uncompressed) model and the final (compressed) one compare like for like.
    """
    names = set()
    for op in model.get_ops():
        if op.get_type_name() in _NOT_LAYERS or _is_weight_decompression(op):
            continue
        if any(_from_quantizer(_producer(op, i)) for i in range(op.get_input_size())):
            names.add(op.get_friendly_name())
    return names


def split_calibration(images: ImageArray, fraction: float,
                      count: int | None = None) -> tuple[ImageArray, ImageArray]:
    """(calibration, validation): the last ``count`` images, else the last ``fraction`` of the
    (already shuffled) calibration split, validate; the rest calibrates; both get at least one
    image."""
    if len(images) < 2:
        raise ConfigError("accuracy control needs at least 2 calibration images (one validates)")
    if count is not None and count >= len(images):
        raise ConfigError(f"accuracy control was asked to validate on {count} of {len(images)} "
                          "images: at least one must be left to calibrate on")
    wanted = count if count is not None else math.ceil(len(images) * fraction)
    validation = min(len(images) - 1, max(1, wanted))
    cut = len(images) - validation
    calibrate = ImageArray(images.images[:cut], images.labels[:cut], images.files[:cut])
    validate = ImageArray(images.images[cut:], images.labels[cut:], images.files[cut:])
    return calibrate, validate


def make_validation_fn(validation: ImageArray) -> Callable[[Any, Iterable[int]], float]:
    """NNCF's ``validation_fn(compiled_model, items) -> top-1``. Items are indices into
    ``validation`` (see ``nncf_dataset``), so labels stay beside the model input, not inside it;
    NNCF's own inference on the items (layer ranking) goes through the dataset's transform."""

    def validate(compiled: Any, items: Iterable[int]) -> float:
        correct = total = 0
        output = compiled.output(0)
        for i in items:
            image = np.ascontiguousarray(validation.images[i : i + 1], dtype=np.float32)
            logits = compiled(image)[output]
            correct += int(np.argmax(logits, axis=1)[0] == validation.labels[i])
            total += 1
        return correct / max(1, total)

    return validate


def build_accuracy_control(
    bundle: ModelBundle, recipe: OvInt8AccuracyControl, calibration: ImageArray, target: Path
) -> Built:
    import nncf
    import openvino as ov

    calibrate, validate = split_calibration(calibration, recipe.validation_fraction,
                                             recipe.validation_tail)
    kwargs = quantize_kwargs(recipe, len(calibrate))
    remedy = resolve_overflow_fix(recipe)
    used = int(kwargs["subset_size"])
    intermediate_dir = target.parent / "accuracy-control-intermediate"
    intermediate_dir.mkdir(parents=True, exist_ok=True)
    try:
        fp32 = read_fp32(bundle)
        final = nncf.quantize_with_accuracy_control(
            fp32, nncf_dataset(calibrate.images), nncf_dataset(validate.images),
            make_validation_fn(validate),
            max_drop=recipe.max_drop, drop_type=nncf.DropType(recipe.drop_type),
            # NNCF names it advanced_quantization_parameters here (advanced_parameters in quantize)
            advanced_quantization_parameters=advanced_parameters(remedy),
            advanced_accuracy_restorer_parameters=_restorer_parameters(recipe, intermediate_dir),
            **kwargs, **ignored_scope(recipe, fp32),
        )
        save_ir(final, target)
        fully_quantized = ov.Core().read_model(str(intermediate_dir / "intermediate_model.xml"))
        facts = _report(
            fp32, fully_quantized, final, validate, calibration_images_used=used, remedy=remedy
        )
    finally:
        shutil.rmtree(intermediate_dir, ignore_errors=True)
    return Built(artifact=target, facts=facts, calibration_images=used)


def _restorer_parameters(recipe: OvInt8AccuracyControl, intermediate_dir: Path) -> Any:
    from nncf.quantization.advanced_parameters import (
        AdvancedAccuracyRestorerParameters,
        RestoreMode,
    )

    restorer = AdvancedAccuracyRestorerParameters(
        tune_hyperparams=recipe.tune_hyperparams,
        ranking_subset_size=recipe.ranking_subset_size,
        num_ranking_workers=recipe.num_ranking_workers,
        intermediate_model_dir=str(intermediate_dir),
        restore_mode=RestoreMode(recipe.restore_mode),
    )
    if recipe.max_num_iterations is not None:
        restorer.max_num_iterations = recipe.max_num_iterations
    return restorer


def _report(
    fp32: Any, fully_quantized: Any, final: Any, validate: ImageArray,
    *, calibration_images_used: int, remedy: Resolved,
) -> OvAccuracyControlFacts:
    """Validation top-1 of the three models (drops are absolute, as fractions: 0.01 = 1 point)
    and the layers that went back to floating point."""
    fp32_top1, full_top1, final_top1 = (
        top1(compile_model(model), validate.images, validate.labels)
        for model in (fp32, fully_quantized, final)
    )
    before, after = quantized_layers(fully_quantized), quantized_layers(final)
    return OvAccuracyControlFacts(
        calibration_images_used=calibration_images_used,
        fake_quantize_nodes=count_fake_quantize(final),
        nncf=nncf_version(),
        saturation_remedy=remedy,
        validation_images=len(validate),
        validation_top1_fp32=fp32_top1,
        validation_top1_before_restore=full_top1,
        validation_top1=final_top1,
        validation_drop_before_restore=fp32_top1 - full_top1,
        validation_drop=fp32_top1 - final_top1,
        quantized_layers_before_restore=len(before),
        quantized_layers=len(after),
        reverted_layers=sorted(before - after),
    )
