"""The PyTorch adapter: the eager FP32 reference and every PyTorch quantization path.

Availability comes from the recipes' declarations (``recipes.py``), building from ``build.py``,
sessions from ``runtime.py``; this class only wires them to the toolchain contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe, Session, Toolchain
from quantarena.toolchains.pytorch import build, runtime
from quantarena.toolchains.pytorch.recipes import RECIPES


class PyTorchToolchain(Toolchain):
    name: ClassVar[str] = "pytorch"
    title: ClassVar[str] = "PyTorch"
    recipes: ClassVar[dict[str, type[Recipe]]] = dict(RECIPES)
    packages: ClassVar[tuple[str, ...]] = ("torch", "torchvision", "torchao")

    def _build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> Built:
        return build.build(bundle, recipe, calibration, workdir)

    def _load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        return runtime.load(artifact, recipe, threads)
