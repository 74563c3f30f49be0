"""Making the CUDA artifacts on the CPU: the module's state dict in the type it will run in, plus
what rebuilds the module. A module-cast FP16/BF16 artifact stores FP16/BF16 weights (its size is
what ships); an autocast one keeps FP32 weights (autocast casts per op at run time); an INT8 one
holds torchao's quantized weight tensors, so loading re-quantizes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildFacts, Built, Recipe
from quantarena.toolchains.pytorch import _common
from quantarena.toolchains.pytorch_cuda.recipes import (
    CudaInt8,
    CudaInt8Dynamic,
    CudaInt8Facts,
    CudaRecipe,
    Dtype,
)

ARTIFACT = "model.pt"


def torch_dtype(dtype: Dtype) -> Any:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]


def stored_dtype(recipe: CudaRecipe) -> Dtype:
    """The type the artifact's weights are stored in."""
    if isinstance(recipe, CudaInt8) or recipe.cast == "cast":
        return recipe.dtype
    return "fp32"


def build(bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path) -> Built:
    """The artifact of a CUDA recipe; nothing here needs a GPU."""
    import torch

    if not isinstance(recipe, CudaRecipe):
        raise TypeError(f"no PyTorch (CUDA) builder for {type(recipe).__name__}")
    module = _common.fp32_module(bundle).to(torch_dtype(stored_dtype(recipe)))
    rebuild: dict[str, Any] = (
        {"factory": bundle.torch_factory}
        if bundle.torch_factory is not None
        else {"arch": bundle.torch_arch}
    )
    common = {
        "arch": str(bundle.torch_source),
        "torch": torch.__version__,
        "weights_dtype": stored_dtype(recipe),
    }
    notes: list[str] = []
    facts = (
        quantize(module, recipe, common, notes) if isinstance(recipe, CudaInt8)
        else recipe.Facts(**common)
    )
    target = workdir / ARTIFACT
    torch.save(
        {
            **rebuild,
            "dtype": stored_dtype(recipe),
            "input_shape": list(bundle.input_shape),
            "state_dict": module.state_dict(),
        },
        target,
    )
    return Built(target, facts, notes=notes)


def int8_config(recipe: CudaInt8) -> Any:
    """torchao's config object for the recipe (its defaults: per-row weight scales)."""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig

    if isinstance(recipe, CudaInt8Dynamic):
        return Int8DynamicActivationInt8WeightConfig()
    return Int8WeightOnlyConfig()


def quantize(
    module: Any, recipe: CudaInt8, common: dict[str, Any], notes: list[str]
) -> BuildFacts:
    """``torchao.quantize_`` in place; the facts list the layers it replaced."""
    import torch
    import torchao
    from torchao.quantization import quantize_

    config = int8_config(recipe)
    with _common.captured_warnings(notes):
        quantize_(module, config)
    linear = [
        name for name, child in module.named_modules() if isinstance(child, torch.nn.Linear)
    ]
    quantized = [
        name for name in linear
        if type(module.get_submodule(name).weight).__name__ not in ("Parameter", "Tensor")
    ]
    layers = [
        name for name, child in module.named_modules()
        if isinstance(child, torch.nn.Conv2d | torch.nn.Linear)
    ]
    facts = recipe.Facts
    assert issubclass(facts, CudaInt8Facts)  # declared by every INT8 recipe
    return facts(
        **common,
        torchao=torchao.__version__,
        config=repr(config),
        quantized_layers=quantized,
        layers_total=len(layers),
    )
