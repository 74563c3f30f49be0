"""PyTorch: the eager FP32 reference and every PyTorch quantization path.

Each recipe has a handler module in this package with ``build`` and ``load`` functions; the
toolchain only dispatches (torchao's config -> handler pattern). Handlers import torch lazily.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any, ClassVar

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Availability, BuildResult, Recipe, Session, Toolchain
from quantarena.toolchains.pytorch.recipes import RECIPES


class PyTorchToolchain(Toolchain):
    name: ClassVar[str] = "pytorch"
    recipes: ClassVar[dict[str, type[Recipe]]] = {name: cls for name, (cls, _) in RECIPES.items()}
    requires: ClassVar[tuple[str, ...]] = ("torch", "torchvision")
    packages: ClassVar[tuple[str, ...]] = ("torch", "torchvision", "torchao")
    extra: ClassVar[str] = "torch"

    def _handler(self, recipe: Recipe) -> Any:
        for cls, module in RECIPES.values():
            if type(recipe) is cls:
                return importlib.import_module(f"quantarena.toolchains.pytorch.{module}")
        raise TypeError(f"no PyTorch handler for {type(recipe).__name__}")

    def availability(self, recipe: str) -> Availability:
        base = super().availability(recipe)
        if not base.ok:
            return base
        needs = getattr(self.recipes[recipe], "requires", ())
        missing = [m for m in needs if importlib.util.find_spec(m) is None]
        if missing:
            return Availability.no(f"{', '.join(missing)} not installed (pip install 'quantarena[pytorch-quant]')")
        return base

    def supports(self, bundle: ModelBundle, recipe: Recipe) -> Availability:
        if bundle.torch_arch is None:
            return Availability.no("the model came from an ONNX file: PyTorch paths need a torch module")
        check = getattr(self._handler(recipe), "supports", None)
        return check(bundle, recipe) if check else Availability.yes()

    def build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> BuildResult:
        return self._handler(recipe).build(bundle, recipe, calibration, workdir)  # type: ignore[no-any-return]

    def load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        import torch

        torch.set_num_threads(threads)
        return self._handler(recipe).load(artifact, recipe, threads)  # type: ignore[no-any-return]

    def runtime_info(self, session: Session) -> dict[str, Any]:
        import torch

        info: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads()}
        engine = getattr(torch.backends.quantized, "engine", None)
        if engine:
            info["quantized_engine"] = engine
        info.update(getattr(session, "info", {}))
        return info
