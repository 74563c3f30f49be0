"""A toy toolchain outside quantarena: the FP32 ONNX export, run by ONNX Runtime with one
thread pool option of its own. It exists to prove that one package and one registry line (an
entry point) give a working variant in ``list``, ``run``, the results and both reports."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.results.measurements import RUNS_ON_CPU, Unavailable
from quantarena.toolchains.base import BuildFacts, Built, Needs, Recipe, Toolchain


class ToyFacts(BuildFacts):
    copied_bytes: int


class ToyFp32(Recipe):
    summary: ClassVar[str] = "the FP32 export, copied and run by ONNX Runtime (a plug-in)"
    needs: ClassVar[Needs] = Needs(packages=("onnxruntime",))
    Facts: ClassVar[type[BuildFacts]] = ToyFacts

    spin: bool = False


class ToySession:
    def __init__(self, path: Path, threads: int, spin: bool) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.name = self.session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(None, {self.name: batch})[0])

    def raw_call(self, batch: np.ndarray) -> Callable[[], object]:
        feed = {self.name: batch}
        return lambda: self.session.run(None, feed)

    def info(self) -> dict[str, Any]:
        return {"plugin": "toy", "providers": self.session.get_providers()}

    def exact_twin(self) -> Unavailable:
        return Unavailable(reason="an FP32 graph has no quantized arithmetic")

    def gpu(self) -> Unavailable:
        """None: this session runs on the CPU."""
        return RUNS_ON_CPU


class ToyToolchain(Toolchain):
    name: ClassVar[str] = "toy"
    title: ClassVar[str] = "Toy"
    recipes: ClassVar[dict[str, type[Recipe]]] = {"fp32": ToyFp32}
    packages: ClassVar[tuple[str, ...]] = ("onnxruntime",)

    def _build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> Built:
        target = workdir / "toy.onnx"
        shutil.copyfile(bundle.onnx_path, target)
        return Built(artifact=target, facts=ToyFacts(copied_bytes=target.stat().st_size))

    def _load(self, artifact: Path, recipe: Recipe, threads: int) -> ToySession:
        assert isinstance(recipe, ToyFp32)
        return ToySession(artifact, threads, recipe.spin)
