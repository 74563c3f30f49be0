"""PyTorch ``torch.ao.quantization`` variants (eager, FX, dynamic) on real images: INT8 files a
quarter of FP32, predictions close to FP32, artifacts that reload without re-quantizing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.results.measurements import Unavailable
from quantarena.toolchains import Session, get_toolchain, parse_variant
from quantarena.toolchains.pytorch import TorchQatInt8
from toolchain_checks import build_and_load, predictions, reference_predictions


def _agreement(session: Session, bundle: ModelBundle, images: ImageArray) -> float:
    return float(np.mean(predictions(session, images) == reference_predictions(bundle, images)))


def _size_ratio(artifact: Path, bundle: ModelBundle) -> float:
    assert bundle.torch_state_path is not None
    return artifact.stat().st_size / bundle.torch_state_path.stat().st_size


@pytest.mark.parametrize("variant", ["pytorch:int8-eager", "pytorch:int8-fx"])
def test_static_int8_is_a_quarter_of_fp32_and_agrees(
    variant: str,
    mv2_bundle: ModelBundle,
    calibration_images: ImageArray,
    evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    result, session = build_and_load(variant, mv2_bundle, calibration_images, tmp_path)
    # calibration_images=None: the whole split, counted by the build.
    assert result.calibration_images == len(calibration_images) == 32
    facts = result.facts
    assert facts["quantized_engine"] == "x86"
    weights, activations = facts["weights"], facts["activations"]
    assert weights["granularity"] == "per-channel" and weights["scheme"] == "symmetric"
    assert activations["dtype"] == "quint8" and activations["scheme"] == "affine"
    assert facts["serialized_with"] in ("torch.jit.script", "torch.jit.trace")
    assert sum(n for name, n in facts["quantized_modules"].items() if "Conv" in name) >= 52
    assert any("torch.ao.quantization is deprecated" in n for n in result.notes), result.notes
    assert 0.2 < _size_ratio(result.artifact, mv2_bundle) < 0.35
    info = session.info()
    assert info["engine"] == "x86" and info["quantized_engine"] == "x86"
    assert info["format"].startswith("TorchScript")
    assert _agreement(session, mv2_bundle, evaluation_images) > 0.7
    # No knob: the facts state what the engine's qconfig does about the 16-bit overflow, read
    # back from its activation observer (the x86 qconfig uses 7 bits).
    remedy = facts["saturation_remedy"]
    assert remedy["asked"] == "qconfig"
    assert remedy["value"] is activations["reduce_range"] is True
    assert "observes activations with reduce_range=True ([0, 127], 7 bits)" in remedy["why"]
    assert "without VNNI" in remedy["why"]
    # Packed int8 weights run only by the engine's integer kernels: no exact twin, and why.
    twin = session.exact_twin()
    assert isinstance(twin, Unavailable)
    assert "packed for the 'x86' quantized engine" in twin.reason
    assert twin.reason.endswith("no faithful float path")


@pytest.mark.parametrize("variant", ["pytorch:int8-eager", "pytorch:int8-fx"])
def test_the_calibration_knob_is_not_overwritten_by_the_count(
    variant: str, mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    """The knob says what was asked (8 of the 32-image split); the outcome says what was used.
    Builds once wrote their count over the knob of the same name in the results."""
    toolchain, name = parse_variant(variant)
    recipe = toolchain.parse_recipe(name, {"calibration_images": 8})
    assert len(calibration_images) == 32
    result = toolchain.build(mv2_bundle, recipe, calibration_images, tmp_path)
    assert result.calibration_images == 8
    assert recipe.model_dump()["calibration_images"] == 8
    assert "calibration_images" not in result.facts
    assert not set(result.facts) & set(recipe.model_dump())


def test_eager_int8_reloads_in_a_fresh_process(
    mv2_bundle: ModelBundle,
    calibration_images: ImageArray,
    evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    """The artifact alone (no quantizable model class, no calibration) reproduces the logits."""
    result, session = build_and_load("pytorch:int8-eager", mv2_bundle, calibration_images, tmp_path)
    batch = np.ascontiguousarray(evaluation_images.images[:4])
    np.save(tmp_path / "batch.npy", batch)
    script = textwrap.dedent(f"""
        from pathlib import Path
        import numpy as np
        from quantarena.toolchains import parse_variant
        toolchain, name = parse_variant("pytorch:int8-eager")
        session = toolchain.load(Path({str(result.artifact)!r}), toolchain.parse_recipe(name), 2)
        logits = session.run(np.load({str(tmp_path / "batch.npy")!r}))
        np.save({str(tmp_path / "logits.npy")!r}, logits)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    np.testing.assert_allclose(
        np.load(tmp_path / "logits.npy"), session.run(batch), rtol=1e-5, atol=1e-5
    )


def test_dynamic_quantizes_only_the_classifier(
    mv2_bundle: ModelBundle,
    calibration_images: ImageArray,
    evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    result, session = build_and_load(
        "pytorch:int8-dynamic", mv2_bundle, calibration_images, tmp_path
    )
    assert result.calibration_images == 0
    assert result.facts["quantized_layers"] == ["classifier.1"]
    assert result.facts["weights"]["dtype"] == "qint8"
    assert result.facts["quantized_engine"] == "x86"
    assert session.info()["format"] == "TorchScript (dynamic INT8 Linear)"
    twin = session.exact_twin()
    assert isinstance(twin, Unavailable) and "quantized::linear_dynamic" in twin.reason
    # MobileNetV2's classifier is 1.28M of its 3.5M weights: the file shrinks by about a third.
    assert 0.6 < _size_ratio(result.artifact, mv2_bundle) < 0.85
    assert _agreement(session, mv2_bundle, evaluation_images) > 0.9


def test_eager_mode_needs_a_quantizable_torchvision_model(mv2_bundle: ModelBundle) -> None:
    toolchain = get_toolchain("pytorch")
    vgg = replace(mv2_bundle, torch_arch="vgg16")
    resnet = replace(mv2_bundle, torch_arch="resnet50")
    assert toolchain.unavailable("int8-eager") is None  # a model limit needs the model
    assert toolchain.unavailable("int8-eager", mv2_bundle) is None
    assert toolchain.unavailable("int8-eager", resnet) is None
    verdict = toolchain.unavailable("int8-eager", vgg)
    assert verdict is not None and "quantizable" in verdict.reason
    assert verdict.reason.startswith(
        "torchvision has no quantizable version of vgg16 (eager mode needs one; it has: "
    )
    assert verdict.reason.endswith(
        "); use pytorch:int8-fx, pytorch:int8-pt2e or pytorch:int8-qat"
    )
    eager_qat = toolchain.unavailable("int8-qat-eager", vgg)
    assert eager_qat is not None
    assert eager_qat.reason.startswith("torchvision has no quantizable version of vgg16 (eager QAT")
    assert toolchain.unavailable("int8-qat-eager", resnet) is None
    assert toolchain.unavailable("int8-fx", vgg) is None
    # PT2E takes ResNets too (through the quantizable twin: test_toolchain_pytorch_module_form.py).
    for recipe in ("int8-pt2e", "int8-qat"):
        assert toolchain.unavailable(recipe, resnet) is None
        assert toolchain.unavailable(recipe, vgg) is None


def test_recipes_state_their_knobs_and_requirements() -> None:
    toolchain = get_toolchain("pytorch")
    int8 = ("int8-eager", "int8-fx", "int8-pt2e", "int8-qat", "int8-qat-eager", "int8-dynamic")
    for name in int8:
        assert toolchain.recipes[name].precision == "int8"
    for name in ("int8-pt2e", "int8-qat"):
        needs = toolchain.recipes[name].needs
        assert needs.packages == ("torch", "torchvision", "torchao")
        assert needs.install == "pip install 'quantarena[pytorch-quant]'"
    qat = toolchain.parse_recipe("int8-qat", {"steps": 8})
    assert isinstance(qat, TorchQatInt8) and qat.steps == 8
    with pytest.raises(ValueError):
        toolchain.parse_recipe("int8-eager", {"observer": "minmax"})


def test_importing_the_adapter_does_not_import_torch() -> None:
    """Every module of the package, the registry's adapter and its availability answers."""
    code = textwrap.dedent("""
        import importlib, pkgutil, sys
        import quantarena.toolchains.pytorch as package
        from quantarena.toolchains import get_toolchain
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
        toolchain = get_toolchain("pytorch")
        for name in toolchain.recipes:
            toolchain.unavailable(name)
        runtimes = ("torch", "torchvision", "torchao")
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in runtimes)
        assert not leaked, leaked
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_dynamic_int8_leaves_linears_whose_weights_the_model_reads_itself_in_fp32() -> None:
    """torchvision's Swin passes ``attn.qkv.weight`` to a functional attention; replacing that
    Linear would turn ``weight`` into a method and break the model."""
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    from quantarena.toolchains.pytorch.dynamic_int8 import _called_linears

    class ReadsWeights(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = torch.nn.Linear(8, 8)
            self.head = torch.nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.nn.functional.linear(x, self.qkv.weight, self.qkv.bias))

    model = ReadsWeights().eval()
    example = (torch.randn(2, 8),)
    called, skipped = _called_linears(model, example)
    assert (called, skipped) == (["head"], ["qkv"])
    with warnings.catch_warnings():
        # torch.ao.quantization's deprecation warnings (the builds record them as notes)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantized = quantize_dynamic(  # type: ignore[no-untyped-call]  # untyped torch API
            model, dict.fromkeys(called, default_dynamic_qconfig), dtype=torch.qint8
        )
        assert quantized(*example).shape == (2, 4)
    assert "dynamic" in type(quantized.head).__module__
    assert type(quantized.qkv) is torch.nn.Linear
