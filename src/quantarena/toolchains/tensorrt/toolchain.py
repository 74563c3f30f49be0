"""TensorRT: FP32, FP16 and explicit-INT8 engines on an NVIDIA GPU, and the INT8 graph simulated
on the CPU where there is no GPU.

``tensorrt:int8-simulated`` is deliberately a separate variant, not a fallback: it builds the very
Q/DQ graph ``tensorrt:int8`` would hand to TensorRT, proves it follows TensorRT's explicit
quantization rules, and measures its accuracy with ONNX Runtime in exact arithmetic (Q/DQ pairs
unfused, as TensorRT's 32-bit INT8 accumulation, so the CPU's saturating integer kernels never
count against TensorRT). Its recipe declares its speed unavailable, so no CPU latency is ever
reported as TensorRT speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe, Session, Toolchain
from quantarena.toolchains.tensorrt import build, runtime
from quantarena.toolchains.tensorrt.recipes import RECIPES


class TensorRtToolchain(Toolchain):
    name: ClassVar[str] = "tensorrt"
    title: ClassVar[str] = "TensorRT"
    recipes: ClassVar[dict[str, type[Recipe]]] = dict(RECIPES)
    packages: ClassVar[tuple[str, ...]] = (
        "tensorrt", "tensorrt-cu12", "tensorrt-cu13", "nvidia-modelopt", "onnx", "onnxruntime",
        "nvidia-ml-py", "torch",
    )

    def _build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> Built:
        return build.build(bundle, recipe, calibration, workdir)

    def _load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        return runtime.load(artifact, recipe, threads)

    def artifact_files(self, artifact: Path) -> list[Path]:
        """The engine alone (or the simulated ONNX graph): the timing cache and intermediate graphs
        are build by-products, not part of what ships."""
        return [artifact]
