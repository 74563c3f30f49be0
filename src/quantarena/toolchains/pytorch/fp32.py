"""Eager FP32: the reference every other variant's accuracy is compared with."""

from __future__ import annotations

from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
from quantarena.toolchains.pytorch import _common
from quantarena.toolchains.pytorch.facts import TorchFp32Facts
from quantarena.toolchains.pytorch.recipes import TorchFp32


def build(bundle: ModelBundle, recipe: TorchFp32, calibration: ImageArray, workdir: Path) -> Built:
    """The artifact is the FP32 state dict plus what rebuilds the module (the torchvision
    architecture name, or the user's factory): what reloads faithfully."""
    import torch

    if not bundle.has_torch_module:  # the base adapter reports such a bundle unavailable first
        raise ValueError(f"{bundle.name} has no torch module to save")
    module = _common.fp32_module(bundle)
    target = workdir / "model.pt"
    rebuild = (
        {"factory": bundle.torch_factory}
        if bundle.torch_factory is not None
        else {"arch": bundle.torch_arch}
    )
    torch.save({**rebuild, "state_dict": module.state_dict()}, target)
    facts = TorchFp32Facts(arch=str(bundle.torch_source), torch=torch.__version__)
    return Built(target, facts)
