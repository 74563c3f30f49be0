"""Exact twins of quantized IR: the same quantized graph, run by the CPU plugin in float arithmetic.

The CPU plugin has no documented setting that keeps a quantized IR out of its integer kernels:
when it finds FakeQuantize ops it applies its low-precision transformations and runs the
convolutions as u8×s8 (the ``EXECUTION_MODE_HINT=ACCURACY`` hint only governs floating-point
types; measured: the INT8 MobileNetV2 IR still runs 53 u8 layers under it). The only switch,
``LP_TRANSFORMS_MODE``, is a plugin-internal developer property, not in ``SUPPORTED_PROPERTIES``
and not documented; with it the classifier still ran as i8 (its int8 weights take the plugin's
compressed-weights path).

So the twin rewrites the graph instead, using only what the opset specification documents:

- every ``FakeQuantize`` becomes the float arithmetic its specification defines (FakeQuantize-1:
  ``output_low`` at or below the lower input bound, ``output_high`` above the upper one, otherwise
  ``round((x - input_low) / (input_high - input_low) * (levels - 1)) / (levels - 1) *
  (output_high - output_low) + output_low``, rounding half to even like the reference
  implementation), written with ``Select``, ``Subtract``, ``Multiply``, ``Round`` and ``Add``;
- every int8 (or uint8) constant NNCF stored for weights or zero points is widened to the same
  values in f32, so no layer has integer weights left to take an integer path.

Nothing quantized is left for the plugin to lower, and with the f32 precision hint every layer
runs in f32: the values on the quantization grid are exactly the IR's, and the products and sums
between them are f32 (exact up to float rounding) rather than integer kernels, which on CPUs
without VNNI sum u8×s8 pairs in saturating 16 bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Constant element types NNCF uses for compressed INT8 weights and zero points.
_WIDENED = {"i8", "u8"}
#: Low-precision constant types the twin cannot widen exactly (packed sub-byte types).
_UNSUPPORTED = {"i4", "u4", "nf4", "f4e2m1", "f8e4m3", "f8e5m2"}


class NotExact(Exception):
    """The graph holds something the twin cannot rewrite faithfully (the reason is the message)."""


def is_quantized(model: Any) -> bool:
    """Does the graph have quantized arithmetic: a FakeQuantize, or low-precision weights?"""
    for op in model.get_ops():
        kind = op.get_type_name()
        if kind == "FakeQuantize":
            return True
        if kind == "Constant" and _element_type(op) in _WIDENED | _UNSUPPORTED:
            return True
    return False


def exact_model(model: Any) -> Any:
    """Rewrite ``model`` in place into its exact twin (see the module docstring) and return it.
    Raises ``NotExact`` where a faithful rewrite is impossible (packed 4-bit or fp8 constants,
    FakeQuantize bounds that are not constants)."""
    for op in list(model.get_ops()):
        kind = op.get_type_name()
        if kind == "Constant" and _element_type(op) in _UNSUPPORTED:
            raise NotExact(f"{_element_type(op)} constants have no exact f32 rewrite here")
        if kind == "Constant" and _element_type(op) in _WIDENED:
            _widen(op)
        elif kind == "FakeQuantize":
            _decompose(op)
    model.validate_nodes_and_infer_types()
    return model


def fake_quantize_reference(
    x: np.ndarray, input_low: np.ndarray, input_high: np.ndarray,
    output_low: np.ndarray, output_high: np.ndarray, levels: int,
) -> np.ndarray:
    """FakeQuantize-1 exactly as its specification writes it, in float64 NumPy: what the twin's
    subgraph must reproduce (tests compare the two)."""
    x, il, ih, ol, oh = (np.asarray(a, dtype=np.float64) for a in
                         (x, input_low, input_high, output_low, output_high))
    with np.errstate(divide="ignore", invalid="ignore"):
        grid = np.round((x - il) / (ih - il) * (levels - 1)) / (levels - 1) * (oh - ol) + ol
    out = np.where(x <= np.minimum(il, ih), ol, np.where(x > np.maximum(il, ih), oh, grid))
    return np.asarray(out, dtype=np.float32)


def _element_type(op: Any) -> str:
    return str(op.get_output_element_type(0).get_type_name())


def _constant(op: Any) -> np.ndarray:
    """The value of a FakeQuantize bound, which NNCF stores as a constant (possibly behind a
    Convert when the IR was saved with f16 constants)."""
    node = op
    while node.get_type_name() == "Convert":
        node = node.input(0).get_source_output().get_node()
    if node.get_type_name() != "Constant":
        raise NotExact(f"a FakeQuantize bound is computed by {node.get_type_name()}, not constant")
    return np.asarray(node.get_data(), dtype=np.float64)


def _widen(op: Any) -> None:
    """Replace an int8/uint8 constant by an f32 constant of the same values (exact: every 8-bit
    integer is an f32). Its consumers are the ``Convert`` of NNCF's weight decompression, which
    then converts f32 to f32."""
    import openvino.opset13 as ops

    wide = ops.constant(np.asarray(op.get_data(), dtype=np.float32))
    wide.set_friendly_name(op.get_friendly_name() + "/exact_f32")
    op.output(0).replace(wide.output(0))


def _decompose(fq: Any) -> None:
    """Replace one FakeQuantize by its specification's float arithmetic (module docstring).

    The per-element constants are prepared in float64 and stored as f32: ``(levels - 1) /
    (input_high - input_low)`` and ``(output_high - output_low) / (levels - 1)``, with zero where
    the input range is empty (such elements are always taken by one of the two ``Select`` bounds,
    as the specification says, so the zero never reaches an output).
    """
    import openvino.opset13 as ops

    x = fq.input(0).get_source_output()
    il, ih, ol, oh = (_constant(fq.input(i).get_source_output().get_node()) for i in range(1, 5))
    steps = float(fq.get_levels() - 1)
    width = ih - il
    with np.errstate(divide="ignore", invalid="ignore"):
        to_grid = np.where(width != 0, steps / width, 0.0)
    from_grid = (oh - ol) / steps

    def const(values: np.ndarray) -> Any:
        return ops.constant(np.asarray(values, dtype=np.float32))

    grid = ops.round(ops.multiply(ops.subtract(x, const(il)), const(to_grid)), "half_to_even")
    inside = ops.add(ops.multiply(grid, const(from_grid)), const(ol))
    upper = ops.select(ops.greater(x, const(np.maximum(il, ih))), const(oh), inside)
    out = ops.select(ops.less_equal(x, const(np.minimum(il, ih))), const(ol), upper)
    out.set_friendly_name(fq.get_friendly_name())
    fq.output(0).replace(out.output(0))
