"""The ONNX Runtime adapter: the FP32 export and ``onnxruntime.quantization`` INT8 graphs on the
CPU execution provider, and (with onnxruntime-gpu) the FP32, FP16 and Q/DQ INT8 graphs on the CUDA
and TensorRT execution providers."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe, Session, Toolchain
from quantarena.toolchains.onnxruntime import build, gpu_build, gpu_runtime
from quantarena.toolchains.onnxruntime.gpu_recipes import GPU_RECIPES, OrtGpuRecipe
from quantarena.toolchains.onnxruntime.recipes import RECIPES, OrtRecipe
from quantarena.toolchains.onnxruntime.runtime import open_session


class OnnxRuntimeToolchain(Toolchain):
    name: ClassVar[str] = "onnxruntime"
    title: ClassVar[str] = "ONNX Runtime"
    recipes: ClassVar[dict[str, type[Recipe]]] = {**RECIPES, **GPU_RECIPES}
    packages: ClassVar[tuple[str, ...]] = ("onnxruntime", "onnxruntime-gpu", "onnx")

    def _build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> Built:
        if isinstance(recipe, OrtGpuRecipe):
            return gpu_build.build(bundle, recipe, calibration, workdir)
        return build.build(bundle, recipe, calibration, workdir)

    def _load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        if isinstance(recipe, OrtGpuRecipe):
            return gpu_runtime.load(artifact, recipe, threads)
        if not isinstance(recipe, OrtRecipe):
            raise TypeError(f"no ONNX Runtime loader for {type(recipe).__name__}")
        # The recipe, not the file, says what kind of graph this is: it decides the exact twin.
        return open_session(
            artifact, threads, recipe.graph_optimization, kind=recipe.graph_kind()
        )
