"""The explicit-quantization rules a Q/DQ INT8 graph must follow to run as INT8 in TensorRT.

TensorRT (10.x deprecates, 11.x removes implicit INT8 calibration) takes its INT8 precision only
from QuantizeLinear/DequantizeLinear nodes in the ONNX graph, and only where they follow its rules:
symmetric INT8 (zero point 0), per-tensor activation scales, per-channel weight scales along the
output-channel axis, both inputs of a quantized Conv/Gemm/MatMul dequantized, residual adds fed by
quantized tensors. A graph that breaks them still builds: TensorRT silently runs the affected layers
in higher precision, so an "INT8" row would time a partly float engine. This checker makes that
visible before any GPU is involved. It is pure ``onnx``: no TensorRT, no runtime.

Layers with no Q/DQ at all are not violations: a quantizer may keep a layer in high precision on
purpose (ModelOpt keeps GEMV-shaped Gemm/MatMul, such as a classifier at batch 1, in float). They
are listed in ``QdqReport.float_layers`` so a build can disclose them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Layers whose INT8 execution TensorRT derives from dequantized inputs.
LAYER_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
_INT8 = 3  # onnx.TensorProto.INT8 (kept numeric: this module imports onnx lazily)
_UINT8 = 2


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``rule`` is a short id, ``node`` the offending node's name."""

    rule: str
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.node}: {self.message} [{self.rule}]"


@dataclass
class QdqReport:
    violations: list[Violation] = field(default_factory=list)
    quantized_layers: list[str] = field(default_factory=list)
    float_layers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


class _Graph:
    """Index of one ONNX graph: producers, consumers and constant values by tensor name."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        graph = model.graph
        self.nodes = list(graph.node)
        self.constants: dict[str, np.ndarray] = {
            i.name: numpy_helper.to_array(i) for i in graph.initializer
        }
        self.constant_types: dict[str, int] = {i.name: i.data_type for i in graph.initializer}
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = defaultdict(list)
        for node in self.nodes:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        self.constants[node.output[0]] = numpy_helper.to_array(attr.t)
                        self.constant_types[node.output[0]] = attr.t.data_type
            for name in node.output:
                self.producer[name] = node
            for name in node.input:
                if name:
                    self.consumers[name].append(node)

    def produced_by(self, tensor: str, op_type: str) -> Any | None:
        node = self.producer.get(tensor)
        return node if node is not None and node.op_type == op_type else None

    def is_constant(self, tensor: str) -> bool:
        """A constant, or a constant passed through Q (weights stored as FP32 with a Q/DQ pair)."""
        if tensor in self.constants:
            return True
        q = self.produced_by(tensor, "QuantizeLinear")
        return q is not None and q.input[0] in self.constants


def _attr(node: Any, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default


def _type_name(data_type: int) -> str:
    from onnx import TensorProto

    try:
        return str(TensorProto.DataType.Name(data_type))
    except ValueError:
        return f"ONNX type {data_type}"


def _name(node: Any) -> str:
    return node.name or f"{node.op_type}({node.output[0]})"


def _check_scale_zero_point(g: _Graph, node: Any, out: list[Violation]) -> None:
    """Symmetric INT8: constant positive scale, INT8 zero point equal to 0 (or absent on DQ of
    INT8)."""
    who = _name(node)
    scale = g.constants.get(node.input[1]) if len(node.input) > 1 else None
    if scale is None:
        out.append(Violation("constant-scale", who, "scale is not a constant initializer"))
    elif np.any(scale <= 0):
        out.append(Violation("constant-scale", who, "scale has non-positive values"))
    zp_name = node.input[2] if len(node.input) > 2 else ""
    if not zp_name:
        if node.op_type == "QuantizeLinear" and _attr(node, "output_dtype", _UINT8) != _INT8:
            out.append(Violation("int8-type", who, "no zero point and no INT8 output_dtype: "
                                 "QuantizeLinear then produces UINT8, TensorRT needs INT8"))
        return
    if zp_name not in g.constants:
        out.append(Violation("zero-point", who, "zero point is not a constant initializer"))
        return
    zp_type = g.constant_types[zp_name]
    if zp_type != _INT8:
        out.append(Violation("int8-type", who,
                             f"zero point is {_type_name(zp_type)}; TensorRT needs INT8"))
    zero_point = g.constants[zp_name]
    if np.any(zero_point != 0):
        values = np.unique(zero_point)[:4].tolist()
        out.append(Violation("zero-point", who,
                             f"zero point is not 0 (asymmetric, values {values}); "
                             "TensorRT supports symmetric quantization only"))


def _same_params(g: _Graph, q: Any, dq: Any) -> bool:
    for index in (1, 2):
        a = q.input[index] if len(q.input) > index else ""
        b = dq.input[index] if len(dq.input) > index else ""
        if a == b:
            continue
        if a not in g.constants or b not in g.constants:
            return False
        if not np.array_equal(g.constants[a], g.constants[b]):
            return False
    return _attr(q, "axis", 1) == _attr(dq, "axis", 1)


def _check_pairs(g: _Graph, out: list[Violation]) -> None:
    """Every Q feeds only DQs with the same scale/zero point; every DQ reads a Q or an INT8
    constant."""
    for node in g.nodes:
        if node.op_type == "QuantizeLinear":
            for consumer in g.consumers.get(node.output[0], []):
                if consumer.op_type != "DequantizeLinear":
                    out.append(Violation("qdq-pair", _name(node),
                                         f"output feeds {consumer.op_type} "
                                         f"{_name(consumer)!r}, not a DequantizeLinear"))
                elif not _same_params(g, node, consumer):
                    out.append(Violation("qdq-pair", _name(consumer),
                                         "scale/zero point/axis differ from "
                                         f"its QuantizeLinear {_name(node)!r}"))
        elif node.op_type == "DequantizeLinear":
            source = node.input[0]
            if g.produced_by(source, "QuantizeLinear") is not None:
                continue
            if source in g.constants:
                if g.constant_types[source] != _INT8:
                    out.append(Violation("int8-type", _name(node), "dequantizes a constant of type "
                                         f"{_type_name(g.constant_types[source])}, not INT8"))
                continue
            out.append(Violation("qdq-pair", _name(node),
                                 "input is neither a QuantizeLinear output nor an INT8 constant"))


def _weight_axis(layer: Any, rank: int) -> int:
    """The output-channel axis of a layer's weight (input 1)."""
    if layer.op_type == "Conv":
        return 0
    if layer.op_type == "ConvTranspose":
        return 1
    if layer.op_type == "Gemm":
        return 0 if _attr(layer, "transB", 0) else 1
    return rank - 1  # MatMul: [..., K, N]


def _weight_shape(g: _Graph, dq: Any) -> tuple[int, ...] | None:
    source = dq.input[0]
    q = g.produced_by(source, "QuantizeLinear")
    value = g.constants.get(q.input[0] if q is not None else source)
    return None if value is None else tuple(value.shape)


def _check_layer(g: _Graph, layer: Any, report: QdqReport) -> None:
    who = _name(layer)
    act_dq = g.produced_by(layer.input[0], "DequantizeLinear")
    weight_dq = g.produced_by(layer.input[1], "DequantizeLinear") if len(layer.input) > 1 else None
    if act_dq is None and weight_dq is None:
        report.float_layers.append(who)
        return
    if act_dq is None or weight_dq is None:
        missing = "activation (input 0)" if act_dq is None else "weight (input 1)"
        report.violations.append(Violation("layer-inputs", who, f"{missing} is not fed by a "
                                           "DequantizeLinear; TensorRT runs this layer in float"))
        return
    report.quantized_layers.append(who)
    for dq, role in ((act_dq, "activation"), (weight_dq, "weight")):
        scale = g.constants.get(dq.input[1])
        if scale is None:
            continue
        constant_weight = role == "weight" and g.is_constant(dq.input[0])
        if not constant_weight:
            if scale.size != 1:
                report.violations.append(Violation(
                    "per-tensor-activation", who,
                    f"{role} is quantized per-channel; "
                    "TensorRT takes per-tensor activation scales"))
            continue
        shape = _weight_shape(g, dq)
        if shape is None:
            continue
        axis = _weight_axis(layer, len(shape))
        channels = shape[axis]
        dq_axis = _attr(dq, "axis", 1)
        if dq_axis < 0:
            dq_axis += len(shape)
        if scale.size == 1 and channels > 1:
            report.violations.append(Violation(
                "per-channel-weight", who, "weight is quantized per-tensor; "
                f"expected per-channel along axis {axis} ({channels} scales)"))
        elif scale.size != 1 and (dq_axis != axis or scale.size != channels):
            report.violations.append(Violation(
                "per-channel-weight", who, f"weight scales run along axis "
                f"{dq_axis} ({scale.size}); expected axis {axis} ({channels})"))


def _check_residual_adds(g: _Graph, quantized: set[str], out: list[Violation]) -> None:
    """Each input of a two-tensor Add is dequantized, or is the output of a quantized layer that
    TensorRT fuses the add into; and at least one is dequantized."""
    for node in g.nodes:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        if any(g.is_constant(name) for name in node.input):
            continue  # a bias add, not a residual
        fed_by_dq = [g.produced_by(name, "DequantizeLinear") is not None for name in node.input]
        if not any(fed_by_dq):
            out.append(Violation("residual-add", _name(node),
                                 "neither input is dequantized; quantize the residual (skip) "
                                 "input so TensorRT can fuse the add in INT8"))
            continue
        for name, dq in zip(node.input, fed_by_dq, strict=True):
            source = g.producer.get(name)
            fusable = (source is not None and source.op_type in LAYER_OPS
                       and _name(source) in quantized)
            if not dq and not fusable:
                kind = source.op_type if source is not None else "a graph input"
                out.append(Violation("residual-add", _name(node),
                                     f"input {name!r} comes from {kind}, "
                                     "not from a DequantizeLinear or a quantized layer; "
                                     "the add would run in high precision"))


def inspect_qdq(model: Any) -> QdqReport:
    """Check ``model`` (an ``onnx.ModelProto`` or a path) against TensorRT's explicit-quantization
    rules; the report lists violations, quantized layers and layers kept in high precision."""
    if isinstance(model, (str, Path)):
        import onnx

        model = onnx.load(str(model))
    g = _Graph(model)
    report = QdqReport()
    for node in g.nodes:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            _check_scale_zero_point(g, node, report.violations)
    _check_pairs(g, report.violations)
    for node in g.nodes:
        if node.op_type in LAYER_OPS:
            _check_layer(g, node, report)
    if not report.quantized_layers and not any(v.rule == "layer-inputs" for v in report.violations):
        report.violations.append(Violation(
            "no-quantized-layers", "graph",
            "no Conv/Gemm/MatMul has dequantized inputs: this is not an INT8 Q/DQ graph"))
    else:
        _check_residual_adds(g, set(report.quantized_layers), report.violations)
    return report


def check_qdq_rules(model: Any) -> list[Violation]:
    """The violations of ``model`` (empty when TensorRT can run every quantized layer in INT8)."""
    return inspect_qdq(model).violations
