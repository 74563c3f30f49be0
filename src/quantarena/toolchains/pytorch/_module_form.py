"""Which form of the model PT2E quantizes: the model as defined, torchvision's quantizable twin, or
the exported graph with reused modules split apart.

torchao's X86InductorQuantizer groups graph nodes by the module that produced them. A module that
is *called twice* (torchvision's ResNet blocks call one ``nn.ReLU`` after the first convolution and
again after the residual add) becomes one group with two outputs, and ``prepare_pt2e`` stops with
"Input partition has more than one output node". The limit is the model definition's, not the
toolchain's: torchvision's quantizable twins give every call its own module (and add the shortcut
with ``FloatFunctional``), and where no twin exists, relabelling each call of a reused module as its
own group changes nothing the graph computes and lets the quantizer annotate it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from quantarena.hardware import Resolved
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.pytorch import _common, _export
from quantarena.toolchains.pytorch.recipes import ModuleForm, has_twin

#: The metadata key the quantizer's partitioner reads when a node has no ``source_fn_stack``.
_MODULE_STACK = "nn_module_stack"

#: Reused modules named in a fact before the list is summarized.
_NAMED = 4


def quantizable_twin(bundle: ModelBundle) -> Any:
    """torchvision's quantizable twin of the model, in float mode, holding the bundle's weights
    (its state dict matches the plain model's key for key; a mismatch is an error)."""
    import torchvision

    twin = getattr(torchvision.models.quantization, str(bundle.torch_arch))(
        weights=None, quantize=False
    )
    twin.load_state_dict(_common.fp32_module(bundle).state_dict())
    return twin.eval()


def reused_modules(graph_module: Any) -> dict[str, list[Any]]:
    """Modules whose one instance produced several same-op nodes of the exported graph, by
    qualified name: exactly the groups the quantizer's partitioner would give two outputs."""
    calls: dict[str, list[Any]] = defaultdict(list)
    for node in graph_module.graph.nodes:
        stack = node.meta.get(_MODULE_STACK) if node.op == "call_function" else None
        if stack:
            fqn = list(stack.values())[-1][0]
            calls[fqn].append(node)
    return {
        fqn: nodes
        for fqn, nodes in calls.items()
        if len(nodes) > 1 and len({node.target for node in nodes}) == 1
    }


def split_reused_modules(graph_module: Any, reused: dict[str, list[Any]]) -> None:
    """Give each call of a reused module its own innermost module entry (``layer1.0.relu@0``,
    ``@1``): metadata only, so the graph computes exactly what it did."""
    for fqn, nodes in reused.items():
        for index, node in enumerate(nodes):
            stack = dict(node.meta[_MODULE_STACK])
            key, (_, cls) = list(stack.items())[-1]
            del stack[key]
            stack[f"{key}@{index}"] = (f"{fqn}@{index}", cls)
            node.meta[_MODULE_STACK] = stack


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMED])
    return shown if len(names) <= _NAMED else f"{shown} and {len(names) - _NAMED} more"


def _twin_graph(bundle: ModelBundle, example: tuple[Any, ...], train: bool) -> Any:
    twin = quantizable_twin(bundle)
    return _export.export_dynamic(twin.train() if train else twin, example).module()


def exported_for_pt2e(
    bundle: ModelBundle, asked: ModuleForm, example: tuple[Any, ...], *, train: bool
) -> tuple[Any, Resolved]:
    """The exported graph PT2E quantizes (``train``: exported in training mode, for QAT) and the
    form it came from, as a fact: what was asked, what ran and why."""
    module = _common.fp32_module(bundle)
    plain = _export.export_dynamic(module.train() if train else module, example).module()
    reused = reused_modules(plain)
    names = sorted(reused)
    twin = f"torchvision.models.quantization.{bundle.torch_arch}(quantize=False)"
    if asked == "as-is" or (asked == "auto" and not reused):
        why = (
            "no module is called twice: the model goes to the quantizer as defined"
            if not reused
            else f"asked as defined, though {len(names)} modules are called more than once "
            f"({_listing(names)}); the quantizer may refuse them"
        )
        return plain, Resolved(asked=asked, value="as-is", why=why)
    if asked == "quantizable-twin" or (asked == "auto" and has_twin(bundle)):
        if not has_twin(bundle):
            raise ValueError(
                f"module_form=quantizable-twin: torchvision has no quantizable twin of "
                f"{bundle.torch_factory or bundle.torch_arch}; use auto or split-reused-modules"
            )
        why = (
            f"{twin} with the model's weights"
            + (f": the model calls {len(names)} modules twice ({_listing(names)})" if names else "")
            + "; the twin gives each call its own module and adds shortcuts functionally"
        )
        return _twin_graph(bundle, example, train), Resolved(
            asked=asked, value="quantizable-twin", why=why
        )
    split_reused_modules(plain, reused)
    why = (
        f"graph rewrite: each call of {len(names)} reused modules ({_listing(names)}) labelled as "
        "its own module for the quantizer; the computation is unchanged"
        if names
        else "graph rewrite asked, but no module is called twice: nothing to split"
    )
    return plain, Resolved(asked=asked, value="split-reused-modules", why=why)
