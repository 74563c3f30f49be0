"""The PyTorch adapter against the toolchain contract: declared needs, references and model limits,
typed facts that never shadow a knob, refused facts of the wrong type, and sessions that say what
ran and expose the bare module call."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from importlib.machinery import ModuleSpec
from pathlib import Path

import numpy as np
import pytest

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.results.measurements import Unavailable
from quantarena.toolchains import Built, get_toolchain
from quantarena.toolchains.pytorch import fp32
from quantarena.toolchains.pytorch.facts import TorchCompiledFp32Facts
from quantarena.toolchains.pytorch.recipes import TorchFp32
from toolchain_checks import build_and_load

ALL = (
    "fp32", "fp32-compiled", "int8-eager", "int8-fx", "int8-pt2e", "int8-qat", "int8-qat-eager",
    "int8-dynamic",
)

#: The recipes that need only torch and torchvision (no torchao).
TORCH_ONLY = ("fp32", "fp32-compiled", "int8-eager", "int8-fx", "int8-qat-eager", "int8-dynamic")


def test_every_recipe_declares_what_it_needs_and_whether_it_is_a_reference() -> None:
    toolchain = get_toolchain("pytorch")
    assert tuple(toolchain.recipes) == ALL
    assert toolchain.title == "PyTorch"
    for name, cls in toolchain.recipes.items():
        assert cls.needs.torch_module and not cls.needs.gpu, name
        assert cls.needs.packages[:2] == ("torch", "torchvision"), name
        assert cls.speed_unavailable is None, name
        expected = {"fp32": 0, "fp32-compiled": 3}.get(name)
        assert cls.reference_rank == expected, name
    for name in TORCH_ONLY:
        assert toolchain.recipes[name].needs.packages == ("torch", "torchvision")
        assert toolchain.recipes[name].needs.install == "pip install 'quantarena[torch]'"
    assert [n for n, c in toolchain.recipes.items() if c.calibrates] == [
        "int8-eager", "int8-fx", "int8-pt2e", "int8-qat", "int8-qat-eager"
    ]


def test_torchao_recipes_are_unavailable_without_torchao(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "torchao" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    toolchain = get_toolchain("pytorch")
    for name in ("int8-pt2e", "int8-qat"):
        verdict = toolchain.unavailable(name)
        assert verdict is not None
        assert verdict.reason == "torchao not installed (pip install 'quantarena[pytorch-quant]')"
    for name in TORCH_ONLY:
        assert toolchain.unavailable(name) is None, name


def test_a_model_from_an_onnx_file_has_no_pytorch_variant(mv2_bundle: ModelBundle) -> None:
    toolchain = get_toolchain("pytorch")
    onnx_only = replace(mv2_bundle, source="onnx", torch_arch=None, torch_state_path=None)
    for name in ALL:
        verdict = toolchain.unavailable(name, onnx_only)
        assert verdict is not None and "need a torch module" in verdict.reason, name


def test_a_build_returning_another_recipes_facts_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    mv2_bundle: ModelBundle,
    calibration_images: ImageArray,
    tmp_path: Path,
) -> None:
    def wrong(*args: object) -> Built:
        artifact = tmp_path / "model.pt"
        artifact.write_bytes(b"")
        return Built(artifact, TorchCompiledFp32Facts(export="", compiler="", torch=""))

    monkeypatch.setattr(fp32, "build", wrong)
    toolchain = get_toolchain("pytorch")
    with pytest.raises(TypeError, match="TorchFp32Facts"):
        toolchain.build(mv2_bundle, TorchFp32(), calibration_images, tmp_path)


def test_fp32_session_reports_what_ran_and_its_raw_call_matches_run(
    mv2_bundle: ModelBundle,
    calibration_images: ImageArray,
    evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        result, session = build_and_load(
            "pytorch:fp32", mv2_bundle, calibration_images, tmp_path, threads=1
        )
        info = session.info()
        assert info["torch"] == torch.__version__ and info["threads"] == 1
        assert "quantized_engine" in info
    finally:
        torch.set_num_threads(before)
    assert result.calibration_images == 0 and result.artifact.name == "model.pt"
    assert result.facts == {"arch": "mobilenet_v2", "torch": torch.__version__}
    assert result.files == [result.artifact] and result.size_bytes > 10_000_000
    assert session.exact_twin() == Unavailable(reason="an FP32 graph has no quantized arithmetic")
    batch = np.ascontiguousarray(evaluation_images.images[:2])
    call = session.raw_call(batch)
    logits = session.run(batch)
    assert logits.shape == (2, 1000)
    np.testing.assert_allclose(np.asarray(call()), logits, rtol=1e-6, atol=1e-6)
    # The raw call reads the batch prepared beforehand: another batch changes nothing in it.
    other = np.ascontiguousarray(evaluation_images.images[2:4])
    session.run(other)
    np.testing.assert_allclose(np.asarray(call()), logits, rtol=1e-6, atol=1e-6)
