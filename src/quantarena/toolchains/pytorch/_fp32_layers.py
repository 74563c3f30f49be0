"""Layers kept in FP32 by the FX and PT2E recipes (``fp32_modules``): which modules can be named,
how a name is checked before anything is quantized, and how the build reads back which layers
really stayed in floating point.

A layer is named as ``model.named_modules()`` names it (``features.0.0``, ``classifier.1``): the
name FX's ``QConfigMapping.set_module_name`` and torchao's ``set_module_name_qconfig`` match, and
the one ``torch.export`` writes into each node's ``nn_module_stack``. Only the modules whose weights
INT8 quantizes (``Conv2d``, ``Linear``) can be named; a container such as ``features.1`` would be
matched by both libraries, but naming one layer at a time is what the per-layer ranking needs and
the only meaning both flows give alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quantarena.errors import ConfigError
from quantarena.models.spec import ModelBundle

#: The knob of ``TorchFxInt8`` and ``TorchPt2eInt8`` that keeps named layers in FP32.
KNOB = "fp32_modules"

#: How the messages name the modules that can be kept.
KINDS = "Conv2d/Linear"

#: Layers named in an error before the list is summarized.
_SHOWN = 3


def _quantizable_types() -> tuple[Any, ...]:
    import torch

    return (torch.nn.Conv2d, torch.nn.Linear)


def quantizable_layers(module: Any, input_shape: tuple[int, int, int]) -> list[str]:
    """The qualified names of ``module``'s Conv2d and Linear modules in the order a forward pass
    calls them (the order of the traced or exported graph), each once; modules never called are
    left out (no graph has them). One batch of zeros is run to see the order."""
    import torch

    order: list[str] = []
    handles = []
    kinds = _quantizable_types()
    for name, sub in module.named_modules():
        if isinstance(sub, kinds):
            handles.append(sub.register_forward_hook(
                lambda _m, _i, _o, name=name: order.append(name)))
    try:
        with torch.no_grad():
            module(torch.zeros((1, *input_shape)))
    finally:
        for handle in handles:
            handle.remove()
    return list(dict.fromkeys(order))


def bundle_layers(bundle: ModelBundle) -> list[str]:
    """``quantizable_layers`` of the bundle's FP32 module (what ``Recipe.layers`` answers)."""
    from quantarena.toolchains.pytorch import _common

    return quantizable_layers(_common.fp32_module(bundle), bundle.input_shape)


def refuse_unknown(asked: Iterable[str], known: Iterable[str], where: str) -> None:
    """One ``ConfigError`` naming every asked layer that is not a known one (``where`` says what
    was searched); a name silently ignored would build a fully quantized model under a recipe
    that claims otherwise."""
    names = list(known)
    unknown = [name for name in dict.fromkeys(asked) if name not in names]
    if unknown:
        example = ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")
        raise ConfigError(
            f"{KNOB}: {where} has no {KINDS} module named {', '.join(unknown)} "
            f"(its {len(names)} are named as model.named_modules() names them: {example})"
        )


# --- FX --------------------------------------------------------------------------------------


def fx_float_layers(converted: Any, layers: Iterable[str]) -> list[str]:
    """Which of ``layers`` are still floating-point modules in FX's converted GraphModule (read
    back from the module types, not echoed from the knob): a quantized layer became a module of
    ``torch.ao.nn.quantized`` (or its intrinsic fused form), a kept one is a float module (a
    ``Conv2d`` with batch norm folded in, or a fused ``ConvReLU2d``)."""
    kept = []
    for name in layers:
        try:
            sub = converted.get_submodule(name)
        except AttributeError:
            continue  # folded away by convert: nothing of it is left to run in float
        if ".quantized" not in type(sub).__module__:
            kept.append(name)
    return kept


# --- PT2E ------------------------------------------------------------------------------------


def _weighted_ops() -> tuple[Any, ...]:
    import torch

    return (torch.ops.aten.conv2d.default, torch.ops.aten.linear.default)


def _label(node: Any) -> str | None:
    """The innermost module of a node's ``nn_module_stack`` (the name the quantizer's module-name
    filter matches), or ``None`` for a node no module produced."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return None
    return str(list(stack.values())[-1][0])


def graph_layers(graph_module: Any) -> list[str]:
    """The module labels of the exported graph's conv and linear nodes, in graph order. A module
    called twice in the ``split-reused-modules`` form carries one label per call (``name@0``)."""
    labels = [_label(n) for n in graph_module.graph.nodes
              if n.op == "call_function" and n.target in _weighted_ops()]
    return list(dict.fromkeys(label for label in labels if label is not None))


def _module_of(label: str) -> str:
    return label.split("@", 1)[0]


def pt2e_labels(asked: Iterable[str], graph_module: Any) -> list[str]:
    """The graph labels that keep the asked modules in FP32: each module's own label, or every
    call's label where the module form split a reused module apart. An asked name that labels no
    conv/linear node of this graph is refused before the quantizer sees it."""
    labels = graph_layers(graph_module)
    refuse_unknown(asked, dict.fromkeys(_module_of(label) for label in labels),
                   "the exported graph")
    wanted = set(asked)
    return [label for label in labels if _module_of(label) in wanted]


def pt2e_float_layers(converted: Any) -> list[str]:
    """The modules whose conv/linear nodes still take a floating-point weight in PT2E's converted
    graph (no dequantize in front of the weight), in graph order: read back from the graph the
    artifact is saved from."""
    kept = []
    for node in converted.graph.nodes:
        if node.op != "call_function" or node.target not in _weighted_ops():
            continue
        weight = node.args[1]
        dequantized = (getattr(weight, "op", None) == "call_function"
                       and "dequantize" in str(weight.target))
        if not dequantized:
            label = _label(node)
            if label is not None:
                kept.append(_module_of(label))
    return list(dict.fromkeys(kept))
