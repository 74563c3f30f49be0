"""PT2E on models that call a module twice (torchvision's ResNets): the quantizer refuses them as
defined, the quantizable twin and the split-module rewrite both quantize them, ``auto`` picks the
right form per model and the facts say which; and eager QAT trains on the twin like PT2E QAT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantarena.data.cache import ImageArray
from quantarena.models.prepare import prepare_bundle
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.pytorch import _common, _fp32_layers, _module_form
from quantarena.toolchains.pytorch.recipes import ModuleForm, TorchPt2eInt8
from quantarena.toolchains.pytorch.runtime import TorchModuleSession
from toolchain_checks import (
    assert_distillation_trained,
    build_and_load,
    predictions,
    reference_predictions,
)

REFUSAL = "Input partition has more than one output node"


@pytest.fixture(scope="module")
def resnet18(tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    return prepare_bundle("resnet18", "none", tmp_path_factory.mktemp("r18"), seed=0)


@pytest.fixture(scope="module")
def resnet18_factory(tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    """The same architecture from a user's factory: torchvision's twin does not apply to it."""
    return prepare_bundle(
        "torchvision.models:resnet18", "none", tmp_path_factory.mktemp("r18f"), seed=0,
        input_size=224, resize=256,
    )


def _example(images: ImageArray) -> tuple[Any, ...]:
    return _common.example_inputs(images)


def _prepare(graph: Any, example: tuple[Any, ...]) -> Any:
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from quantarena.toolchains.pytorch import _pt2e

    quantizer, _ = _pt2e.x86_quantizer(is_qat=False, reduce_range=False)
    prepared = prepare_pt2e(graph, quantizer)
    prepared(*example)
    return convert_pt2e(prepared)


def test_resnet_as_defined_is_refused_by_the_quantizer(
    resnet18: ModelBundle, calibration_images: ImageArray
) -> None:
    example = _example(calibration_images)
    graph, form = _module_form.exported_for_pt2e(resnet18, "as-is", example, train=False)
    assert form.value == "as-is" and "8 modules are called more than once" in form.why
    assert "layer1.0.relu" in form.why
    with pytest.raises(ValueError, match=REFUSAL):
        _prepare(graph, example)


def test_splitting_reused_modules_changes_nothing_computed_and_quantizes(
    resnet18: ModelBundle, calibration_images: ImageArray
) -> None:
    import torch

    example = _example(calibration_images)
    graph, form = _module_form.exported_for_pt2e(
        resnet18, "split-reused-modules", example, train=False
    )
    assert form.value == "split-reused-modules" and "8 reused modules" in form.why
    assert _module_form.reused_modules(graph) == {}
    with torch.no_grad():
        assert torch.equal(graph(*example), _common.fp32_module(resnet18)(*example))
    converted = _prepare(graph, example)
    quantize_ops = [n for n in converted.graph.nodes if "quantize_per_tensor" in str(n.target)]
    assert len(quantize_ops) > 20  # every conv's input is quantized, not only the stem's


def test_auto_picks_as_defined_then_the_twin_then_the_rewrite(
    mv2_bundle: ModelBundle,
    resnet18: ModelBundle,
    resnet18_factory: ModelBundle,
    calibration_images: ImageArray,
) -> None:
    example = _example(calibration_images)
    _, mv2 = _module_form.exported_for_pt2e(mv2_bundle, "auto", example, train=False)
    assert (mv2.asked, mv2.value) == ("auto", "as-is")
    assert mv2.why.startswith("no module is called twice")
    _, twin = _module_form.exported_for_pt2e(resnet18, "auto", example, train=False)
    assert twin.value == "quantizable-twin"
    assert twin.why.startswith("torchvision.models.quantization.resnet18(quantize=False)")
    graph, split = _module_form.exported_for_pt2e(resnet18_factory, "auto", example, train=True)
    assert split.value == "split-reused-modules"
    assert _module_form.reused_modules(graph) == {}
    with pytest.raises(ValueError, match="no quantizable twin of torchvision.models:resnet18"):
        _module_form.exported_for_pt2e(resnet18_factory, "quantizable-twin", example, train=False)


@pytest.mark.parametrize("form", ["as-is", "quantizable-twin", "split-reused-modules"])
def test_every_form_labels_the_weighted_layers_as_the_plain_model_names_them(
    resnet18: ModelBundle, calibration_images: ImageArray, form: ModuleForm
) -> None:
    """``fp32_modules`` names come from the plain model (``TorchPt2eInt8.layers``); the graph the
    quantizer sees may be the twin's or the rewritten one, and must carry the same labels on its
    convolutions and classifier, in the same order."""
    graph, _ = _module_form.exported_for_pt2e(
        resnet18, form, _example(calibration_images), train=False
    )
    layers = TorchPt2eInt8.layers(resnet18)
    assert len(layers) == 21 and layers[-1] == "fc"  # 20 convolutions and the classifier
    assert _fp32_layers.graph_layers(graph) == layers


@pytest.mark.slow
def test_pt2e_builds_resnet_through_the_twin_and_runs_int8_kernels(
    resnet18: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    result, session = build_and_load(
        "pytorch:int8-pt2e", resnet18, calibration_images, tmp_path, {"calibration_images": 8}
    )
    form = result.facts["quantized_form"]
    assert (form["asked"], form["value"]) == ("auto", "quantizable-twin")
    assert session.info()["int8_kernels"]["qconv_weight_prepack"] == 20  # every conv of ResNet18
    assert session.run(calibration_images.batches(1)[0][0]).shape == (1, 1000)


@pytest.mark.slow
def test_eager_qat_trains_the_twin_like_pt2e_qat_and_converts(
    mv2_bundle: ModelBundle,
    calibration_images: ImageArray,
    evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    options = {"steps": 8, "batch_size": 8}
    result, session = build_and_load(
        "pytorch:int8-qat-eager", mv2_bundle, calibration_images, tmp_path, options
    )
    facts = result.facts
    assert result.calibration_images == len(calibration_images)
    assert_distillation_trained(facts, steps=8)
    assert facts["teacher"].startswith("FP32 model") and facts["quantized_engine"] == "x86"
    # The engine's QAT qconfig, read back: fake-quantized per-channel int8 weights.
    assert facts["weights"]["granularity"] == "per-channel" and facts["weights"]["dtype"] == "qint8"
    assert facts["flow"].startswith("torch.ao.quantization eager QAT")
    quantized = facts["quantized_modules"]
    assert quantized.get("conv_relu.ConvReLU2d", 0) + quantized.get("conv.Conv2d", 0) >= 52
    assert isinstance(session, TorchModuleSession)
    assert session.info()["format"] == "TorchScript (eager-mode QAT INT8)"
    ours = predictions(session, evaluation_images)
    reference = reference_predictions(mv2_bundle, evaluation_images)
    assert (ours == reference).mean() > 0.7
