"""Making TensorRT artifacts: an engine from the FP32 export, from a ModelOpt AutoCast FP16 graph or
from a ModelOpt Q/DQ INT8 graph, or (``int8-simulated``) that INT8 graph itself, for the CPU.

Builders return the artifact with their recipe's facts; the adapter's base class times the whole
build, and the engine facts carry the TensorRT builder's own seconds.
"""

from __future__ import annotations

from pathlib import Path

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built, Recipe
from quantarena.toolchains.tensorrt import graphs
from quantarena.toolchains.tensorrt.engine import build_engine
from quantarena.toolchains.tensorrt.recipes import (
    EngineFacts,
    EngineKnobs,
    TrtFp16,
    TrtFp16Facts,
    TrtFp32,
    TrtFp32Facts,
    TrtInt8,
    TrtInt8Facts,
    TrtInt8Simulated,
    TrtInt8SimulatedFacts,
)

ENGINE_FILE = "model.engine"


def build(bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path) -> Built:
    """Dispatch from the recipe's class to its builder; an unknown class is a programming error."""
    match recipe:
        case TrtInt8Simulated():
            return build_simulated_int8(bundle, recipe, calibration, workdir)
        case TrtInt8():
            return build_int8(bundle, recipe, calibration, workdir)
        case TrtFp16():
            return build_fp16(bundle, recipe, workdir)
        case TrtFp32():
            return build_fp32(bundle, recipe, workdir)
    raise TypeError(f"no TensorRT builder for {type(recipe).__name__}")


def build_simulated_int8(
    bundle: ModelBundle, recipe: TrtInt8Simulated, calibration: ImageArray, workdir: Path
) -> Built:
    """The very Q/DQ graph ``tensorrt:int8`` hands to TensorRT (float layers in FP32, which ONNX
    Runtime's CPU provider runs correctly), as the artifact."""
    graph = workdir / "model.onnx"
    qdq = graphs.export_qdq_int8(
        bundle.onnx_path, bundle.input_name, recipe, calibration, graph,
        high_precision_dtype="fp32",
    )
    return Built(artifact=graph, facts=TrtInt8SimulatedFacts(graph=qdq),
                 calibration_images=qdq.calibration_images_used)


def build_int8(
    bundle: ModelBundle, recipe: TrtInt8, calibration: ImageArray, workdir: Path
) -> Built:
    graph = workdir / "int8-qdq.onnx"
    qdq = graphs.export_qdq_int8(
        bundle.onnx_path, bundle.input_name, recipe, calibration, graph,
        high_precision_dtype=recipe.high_precision_dtype,
    )
    facts = TrtInt8Facts(graph=qdq, engine=_engine(graph, workdir, recipe))
    return Built(artifact=workdir / ENGINE_FILE, facts=facts,
                 calibration_images=qdq.calibration_images_used)


def build_fp16(bundle: ModelBundle, recipe: TrtFp16, workdir: Path) -> Built:
    graph = workdir / "fp16.onnx"
    autocast = graphs.export_fp16(bundle.onnx_path, graph)
    facts = TrtFp16Facts(autocast=autocast, engine=_engine(graph, workdir, recipe))
    return Built(artifact=workdir / ENGINE_FILE, facts=facts)


def build_fp32(bundle: ModelBundle, recipe: TrtFp32, workdir: Path) -> Built:
    facts = TrtFp32Facts(engine=_engine(bundle.onnx_path, workdir, recipe))
    return Built(artifact=workdir / ENGINE_FILE, facts=facts)


def _engine(graph: Path, workdir: Path, recipe: EngineKnobs) -> EngineFacts:
    """Build ``model.engine`` from ``graph``, with the recipe's shared timing cache if it names
    one (later builds then skip kernel timing), else a fresh one in ``workdir``."""
    shared = recipe.timing_cache
    cache = Path(shared).expanduser() if shared else workdir / "timing.cache"
    return build_engine(graph, workdir / ENGINE_FILE, recipe, cache)
