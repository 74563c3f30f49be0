"""TensorRT: FP32, FP16 and explicit-INT8 engines on an NVIDIA GPU, and the INT8 graph simulated
on the CPU where there is no GPU.

``tensorrt:int8-simulated`` is deliberately a separate variant, not a fallback: it builds the very
Q/DQ graph ``tensorrt:int8`` would hand to TensorRT, proves it follows TensorRT's explicit
quantization rules, and measures its accuracy with ONNX Runtime. Its session marks timing as
unavailable, so no CPU latency is ever reported as TensorRT speed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Availability, BuildResult, Recipe, Session, Toolchain
from quantarena.toolchains.tensorrt import availability as avail
from quantarena.toolchains.tensorrt.recipes import (
    EngineKnobs,
    TrtFp16,
    TrtFp32,
    TrtInt8,
    TrtInt8Simulated,
)

SIMULATED_TIMING = "graph simulated on CPU with ONNX Runtime; not TensorRT speed"
ENGINE_FILE = "model.engine"


class SimulatedInt8Session:
    """ONNX Runtime (CPU) running the TensorRT-ready Q/DQ graph: accuracy only."""

    timing_unavailable = SIMULATED_TIMING

    def __init__(self, inner: Session) -> None:
        self.inner = inner

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.inner.run(batch)


class TensorRtToolchain(Toolchain):
    name: ClassVar[str] = "tensorrt"
    recipes: ClassVar[dict[str, type[Recipe]]] = {
        "fp32": TrtFp32,
        "fp16": TrtFp16,
        "int8": TrtInt8,
        "int8-simulated": TrtInt8Simulated,
    }
    requires: ClassVar[tuple[str, ...]] = ("onnx",)
    packages: ClassVar[tuple[str, ...]] = (
        "tensorrt", "tensorrt-cu12", "tensorrt-cu13", "nvidia-modelopt", "onnx", "onnxruntime",
        "nvidia-ml-py", "torch",
    )
    extra: ClassVar[str] = "tensorrt"

    def availability(self, recipe: str) -> Availability:
        """Engine variants: an NVIDIA GPU and ``tensorrt`` (plus ModelOpt for FP16/INT8 graphs).
        The simulation: ModelOpt, ONNX Runtime and onnx, no GPU."""
        needs_modelopt = recipe != "fp32"
        if recipe == "int8-simulated":
            missing = [m for m in ("onnx", "onnxruntime") if avail.missing_module(m)]
            if missing:
                return Availability.no(f"{', '.join(missing)} not installed (pip install 'quantarena[onnxruntime]')")
        else:
            gpu = avail.nvidia_gpu_problem()
            hint = "; tensorrt:int8-simulated checks this INT8 graph on the CPU" if recipe == "int8" else ""
            if gpu is not None:
                return Availability.no(gpu + hint)
            if avail.missing_module("tensorrt"):
                return Availability.no(f"tensorrt not installed ({avail.INSTALL_HINT}){hint}")
            if avail.missing_module("torch"):
                return Availability.no("torch not installed (pip install 'quantarena[torch]'): it provides "
                                       "the CUDA buffers and stream")
        if needs_modelopt and avail.missing_module("modelopt"):
            return Availability.no(f"nvidia-modelopt not installed ({avail.MODELOPT_HINT})")
        return Availability.yes()

    def build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> BuildResult:
        from quantarena.toolchains.tensorrt import graphs

        start = time.perf_counter()
        details: dict[str, Any] = {}
        used = 0
        if isinstance(recipe, (TrtInt8, TrtInt8Simulated)):
            graph = workdir / ("model.onnx" if isinstance(recipe, TrtInt8Simulated) else "int8-qdq.onnx")
            high = recipe.high_precision_dtype if isinstance(recipe, TrtInt8) else "fp32"
            report, used = graphs.export_qdq_int8(
                bundle.onnx_path, bundle.input_name, recipe, calibration, graph, high_precision_dtype=high,
            )
            details.update(graphs.qdq_details(report))
            details.update({"quantizer": "nvidia-modelopt", "high_precision_dtype": high,
                            "calibration_images_used": used})
            if isinstance(recipe, TrtInt8Simulated):
                details["executed_by"] = "onnxruntime CPUExecutionProvider (simulation; no TensorRT)"
                return BuildResult(artifact=graph, seconds=time.perf_counter() - start,
                                   calibration_images=used, recipe_details=details)
        elif isinstance(recipe, TrtFp16):
            graph = workdir / "fp16.onnx"
            details.update(graphs.export_fp16(bundle.onnx_path, graph))
        else:
            graph = bundle.onnx_path
        assert isinstance(recipe, EngineKnobs)
        details.update(self._build_engine(graph, workdir, recipe))
        return BuildResult(artifact=workdir / ENGINE_FILE, seconds=time.perf_counter() - start,
                           calibration_images=used, recipe_details=details)

    @staticmethod
    def _build_engine(graph: Path, workdir: Path, recipe: EngineKnobs) -> dict[str, Any]:
        from quantarena.toolchains.tensorrt.engine import build_engine

        cache = Path(recipe.timing_cache).expanduser() if recipe.timing_cache else workdir / "timing.cache"
        started = time.perf_counter()
        facts = build_engine(graph, workdir / ENGINE_FILE, recipe, cache)
        facts["engine_build_seconds"] = time.perf_counter() - started
        return facts

    def load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        if isinstance(recipe, TrtInt8Simulated):
            from quantarena.toolchains.onnxruntime import OnnxRuntimeToolchain

            return SimulatedInt8Session(OnnxRuntimeToolchain().load(artifact, recipe, threads))
        from quantarena.toolchains.tensorrt.runtime import TrtSession

        assert isinstance(recipe, EngineKnobs)
        return TrtSession(artifact, recipe.max_batch)

    def runtime_info(self, session: Session) -> dict[str, Any]:
        if isinstance(session, SimulatedInt8Session):
            from quantarena.toolchains.onnxruntime import OnnxRuntimeToolchain

            info = OnnxRuntimeToolchain().runtime_info(session.inner)
            info["simulates"] = "TensorRT explicit INT8 (Q/DQ) graph"
            info["timing"] = SIMULATED_TIMING
            return info
        from quantarena.toolchains.tensorrt.runtime import TrtSession

        assert isinstance(session, TrtSession)
        return session.info()

    def artifact_files(self, artifact: Path) -> list[Path]:
        """The engine alone (or the simulated ONNX graph): the timing cache and intermediate graphs
        are build by-products, not part of what ships."""
        return [artifact]
