"""The PyTorch CUDA adapter: wires the CUDA recipes (``recipes.py``), the builder (``build.py``)
and the session (``runtime.py``) to the toolchain contract."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe, Session, Toolchain
from quantarena.toolchains.pytorch_cuda import build, runtime
from quantarena.toolchains.pytorch_cuda.recipes import RECIPES


class PyTorchCudaToolchain(Toolchain):
    name: ClassVar[str] = "pytorch-cuda"
    title: ClassVar[str] = "PyTorch (CUDA)"
    recipes: ClassVar[dict[str, type[Recipe]]] = dict(RECIPES)
    packages: ClassVar[tuple[str, ...]] = ("torch", "torchvision", "torchao", "nvidia-ml-py")

    def _build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> Built:
        return build.build(bundle, recipe, calibration, workdir)

    def _load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        return runtime.load(artifact, recipe, threads)
