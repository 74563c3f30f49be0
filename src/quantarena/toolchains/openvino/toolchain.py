"""The OpenVINO adapter: IR built from the FP32 ONNX export (quantized by NNCF for INT8), compiled
for the CPU plugin with the same settings for every variant."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe, Session, Toolchain
from quantarena.toolchains.openvino import build, runtime
from quantarena.toolchains.openvino.recipes import RECIPES


class OpenVinoToolchain(Toolchain):
    name: ClassVar[str] = "openvino"
    title: ClassVar[str] = "OpenVINO"
    recipes: ClassVar[dict[str, type[Recipe]]] = dict(RECIPES)
    packages: ClassVar[tuple[str, ...]] = ("openvino", "nncf")

    def _build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> Built:
        return build.build(bundle, recipe, calibration, workdir)

    def _load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        return runtime.load(artifact, threads)

    def artifact_files(self, artifact: Path) -> list[Path]:
        """The IR is two files: the graph (``.xml``) and the weights (``.bin``)."""
        weights = artifact.with_suffix(".bin")
        return [artifact, weights] if weights.is_file() else [artifact]
