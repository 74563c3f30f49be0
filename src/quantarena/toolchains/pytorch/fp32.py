"""Eager FP32: the reference every other variant's accuracy is compared with."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildResult, Recipe


class TorchModuleSession:
    """Runs any callable torch module under ``inference_mode`` on NumPy batches."""

    def __init__(self, module: Any, info: dict[str, Any] | None = None) -> None:
        self.module = module
        self.info = info or {}

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            # np.require copies only arrays that are read-only or not C-contiguous (torch needs both).
            tensor = torch.from_numpy(np.require(batch, dtype=np.float32, requirements=["C", "W"]))
            return self.module(tensor).numpy()  # type: ignore[no-any-return]


def build(bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path) -> BuildResult:
    """The artifact is the FP32 state dict plus the architecture name (what reloads faithfully)."""
    import torch

    start = time.perf_counter()
    module = bundle.load_torch_module()
    target = workdir / "model.pt"
    torch.save({"arch": bundle.torch_arch, "state_dict": module.state_dict()}, target)
    return BuildResult(artifact=target, seconds=time.perf_counter() - start)


def load(artifact: Path, recipe: Recipe, threads: int) -> TorchModuleSession:
    import torch
    import torchvision

    saved = torch.load(artifact, map_location="cpu", weights_only=True)
    module = torchvision.models.get_model(saved["arch"], weights=None)
    module.load_state_dict(saved["state_dict"])
    return TorchModuleSession(module.eval())
