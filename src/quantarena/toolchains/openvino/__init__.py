"""OpenVINO: the FP32 export as IR, and NNCF post-training INT8 with or without accuracy control.

Every variant is an IR (``model.xml`` + ``model.bin``) compiled for the CPU plugin with the same
settings (see ``runtime``). Modules of this package import openvino and nncf inside functions
only, so importing the adapter costs nothing when OpenVINO is not used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Availability, BuildResult, Recipe, Session, Toolchain
from quantarena.toolchains.openvino.recipes import RECIPES, OvFp32, OvInt8, OvInt8AccuracyControl

__all__ = ["OpenVinoToolchain", "OvFp32", "OvInt8", "OvInt8AccuracyControl"]


class OpenVinoToolchain(Toolchain):
    name: ClassVar[str] = "openvino"
    recipes: ClassVar[dict[str, type[Recipe]]] = dict(RECIPES)
    requires: ClassVar[tuple[str, ...]] = ("openvino", "nncf")
    packages: ClassVar[tuple[str, ...]] = ("openvino", "nncf")
    extra: ClassVar[str] = "openvino"

    def availability(self, recipe: str) -> Availability:
        """FP32 needs only openvino; the INT8 recipes need nncf as well."""
        needs = ("openvino",) if not self.recipes[recipe].calibrates else self.requires
        missing = [m for m in needs if importlib.util.find_spec(m) is None]
        if missing:
            hint = f"pip install 'quantarena[{self.extra}]'"
            return Availability.no(f"{', '.join(missing)} not installed ({hint})")
        return Availability.yes()

    def build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> BuildResult:
        from quantarena.toolchains.openvino import accuracy_control, quantize

        workdir.mkdir(parents=True, exist_ok=True)
        if type(recipe) is OvFp32:
            return quantize.build_fp32(bundle, recipe, workdir)
        if type(recipe) is OvInt8:
            return quantize.build_int8(bundle, recipe, calibration, workdir)
        if type(recipe) is OvInt8AccuracyControl:
            return accuracy_control.build_accuracy_control(bundle, recipe, calibration, workdir)
        raise TypeError(f"no OpenVINO handler for {type(recipe).__name__}")

    def load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        """Reads the IR and compiles it (the harness times this as load time)."""
        from quantarena.toolchains.openvino.runtime import OvSession, compile_model

        try:
            compiled = compile_model(artifact, threads)
        except RuntimeError as exc:
            from quantarena.errors import ModelError

            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"OpenVINO cannot compile {artifact.name}: {first}") from exc
        return OvSession(compiled)

    def runtime_info(self, session: Session) -> dict[str, Any]:
        from quantarena.toolchains.openvino.runtime import OvSession, runtime_info

        assert isinstance(session, OvSession)
        return runtime_info(session.compiled)

    def artifact_files(self, artifact: Path) -> list[Path]:
        """The IR is two files: the graph (``.xml``) and the weights (``.bin``)."""
        weights = artifact.with_suffix(".bin")
        return [artifact, weights] if weights.is_file() else [artifact]
