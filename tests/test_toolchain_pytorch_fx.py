"""FX graph mode's ``fp32_modules``: the named Conv2d/Linear modules stay float modules in the
saved TorchScript (read from the artifact's module types), every other layer is quantized, the
facts say which stayed FP32, the layer list is MobileNetV2's 53 weighted layers in graph order
(the ONNX export's order, node for node), and a name that is no such module is refused in one
line before anything is quantized."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantarena.data.cache import ImageArray
from quantarena.errors import ConfigError
from quantarena.models.spec import ModelBundle
from quantarena.toolchains import get_toolchain
from quantarena.toolchains.onnxruntime.recipes import OrtStaticInt8
from quantarena.toolchains.pytorch.recipes import TorchFxInt8
from toolchain_checks import build_and_load, predictions, reference_predictions

#: Kept in FP32 below: the stem convolution, a depthwise one, and the classifier.
KEPT = ["features.0.0", "features.5.conv.1.0", "classifier.1"]


def _onnx_module_path(node_name: str) -> str:
    """The module an ONNX node of the export came from, from its scopes: each scope is a child's
    name, prefixed by its parent's local name when the parent is a container
    (``/features/features.1/conv/conv.0/conv.0.0/Conv`` -> ``features.1.conv.0.0``)."""
    parts: list[str] = []
    for scope in node_name.strip("/").split("/")[:-1]:
        if parts and scope.startswith(parts[-1] + "."):
            parts[-1] = scope
        else:
            parts.append(scope)
    return ".".join(parts)


def test_fx_layers_are_the_weighted_modules_in_graph_order(mv2_bundle: ModelBundle) -> None:
    layers = TorchFxInt8.layers(mv2_bundle)
    assert len(layers) == 53 and layers[0] == "features.0.0" and layers[-1] == "classifier.1"
    onnx_order = [_onnx_module_path(n) for n in OrtStaticInt8.layers(mv2_bundle)]
    assert layers == onnx_order


def test_fx_refuses_a_module_name_that_is_no_weighted_layer(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    toolchain = get_toolchain("pytorch")
    # "features.1" exists but is a block, not a Conv2d/Linear: refused like a typo
    recipe = TorchFxInt8(fp32_modules=("features.0.0", "nope", "features.1"))
    with pytest.raises(ConfigError) as raised:
        toolchain.build(mv2_bundle, recipe, calibration_images, tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("fp32_modules: the model has no Conv2d/Linear module named "
                              "nope, features.1 (its 53 are named")
    assert not list(tmp_path.iterdir())  # refused before anything was written


def _module_types(artifact: Path) -> dict[str, str]:
    """Qualified TorchScript type of every submodule of the saved artifact."""
    import torch

    from quantarena.toolchains.pytorch._common import captured_warnings

    with captured_warnings([]):  # torch.jit.load warns that TorchScript is deprecated
        module = torch.jit.load(str(artifact))  # type: ignore[no-untyped-call]  # untyped torch API
    return {name: sub._c._type().qualified_name() for name, sub in module.named_modules()}


@pytest.mark.slow
def test_fx_fp32_modules_stay_float_in_the_saved_model(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    result, session = build_and_load(
        "pytorch:int8-fx", mv2_bundle, calibration_images, tmp_path,
        options={"fp32_modules": KEPT, "calibration_images": 16},
    )
    assert result.facts["layers_kept_in_fp32"] == KEPT
    types = _module_types(result.artifact)
    for layer in TorchFxInt8.layers(mv2_bundle):
        quantized = ".quantized." in types[layer]
        assert quantized == (layer not in KEPT), (layer, types[layer])
    # still a working classifier: mostly the FP32 model's answers
    ours = predictions(session, evaluation_images)
    assert (ours == reference_predictions(mv2_bundle, evaluation_images)).mean() > 0.7
