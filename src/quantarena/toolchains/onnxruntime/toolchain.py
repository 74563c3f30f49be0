"""The ONNX Runtime adapter: the FP32 export and ``onnxruntime.quantization`` INT8 graphs, run on
the CPU execution provider."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe, Session, Toolchain
from quantarena.toolchains.onnxruntime import build
from quantarena.toolchains.onnxruntime.recipes import RECIPES, OrtRecipe
from quantarena.toolchains.onnxruntime.runtime import open_session


class OnnxRuntimeToolchain(Toolchain):
    name: ClassVar[str] = "onnxruntime"
    title: ClassVar[str] = "ONNX Runtime"
    recipes: ClassVar[dict[str, type[Recipe]]] = dict(RECIPES)
    packages: ClassVar[tuple[str, ...]] = ("onnxruntime", "onnx")

    def _build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> Built:
        return build.build(bundle, recipe, calibration, workdir)

    def _load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        if not isinstance(recipe, OrtRecipe):
            raise TypeError(f"no ONNX Runtime loader for {type(recipe).__name__}")
        # The recipe, not the file, says what kind of graph this is: it decides the exact twin.
        return open_session(
            artifact, threads, recipe.graph_optimization, kind=recipe.graph_kind()
        )
