"""Build a serialized TensorRT engine from an ONNX graph with the Python API.

Every network is strongly typed: the graph's own types (FP32, AutoCast FP16, Q/DQ INT8) decide
each layer's precision. On TensorRT 10.x that is opted into with ``STRONGLY_TYPED``; on 11.x it is
the only mode (the flag is deprecated and ignored, the weak-typing flags are gone). API differences
are handled by feature checks, not version numbers, so point releases that move an API keep working.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from quantarena.errors import ModelError, ToolchainUnavailable
from quantarena.toolchains.tensorrt.recipes import EngineFacts, EngineKnobs, ProfileShapes

MIN_MAJOR = 10  # name-based I/O tensors, execute_async_v3, strongly typed networks


def import_tensorrt() -> Any:
    """``tensorrt``, or ``ToolchainUnavailable`` when it is missing or older than 10."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise ToolchainUnavailable(f"tensorrt cannot be imported: {exc}") from exc
    major = int(str(trt.__version__).split(".")[0])
    if major < MIN_MAJOR:
        raise ToolchainUnavailable(
            f"tensorrt {trt.__version__} is too old: 10.0 or newer is needed"
        )
    return trt


def _network_flags(trt: Any) -> int:
    creation = trt.NetworkDefinitionCreationFlag
    major = int(str(trt.__version__).split(".")[0])
    if major < 11 and hasattr(creation, "STRONGLY_TYPED"):
        return 1 << int(creation.STRONGLY_TYPED)
    return 0  # 11.x: always strongly typed (and EXPLICIT_BATCH no longer exists)


def _parse(trt: Any, builder: Any, logger: Any, onnx_path: Path) -> tuple[Any, Any]:
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    # parse_from_file resolves external-data files relative to the model's folder.
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ModelError(f"TensorRT cannot parse {onnx_path.name}: " + "; ".join(errors[:5]))
    return network, parser


def _add_profile(
    builder: Any, network: Any, config: Any, knobs: EngineKnobs
) -> dict[str, ProfileShapes]:
    """One optimization profile: batch 1..max_batch for every input; other dimensions must be
    fixed."""
    profile = builder.create_optimization_profile()
    shapes: dict[str, ProfileShapes] = {}
    opt = knobs.opt_batch or knobs.max_batch
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = tuple(tensor.shape)
        if any(d < 0 for d in dims[1:]):
            raise ModelError(f"input {tensor.name!r} has dynamic dimensions besides the batch: "
                             f"{dims}; export the model with a fixed image size")
        rest = dims[1:]
        profile.set_shape(tensor.name, (1, *rest), (opt, *rest), (knobs.max_batch, *rest))
        shapes[tensor.name] = ProfileShapes(
            min=[1, *rest], opt=[opt, *rest], max=[knobs.max_batch, *rest]
        )
    config.add_optimization_profile(profile)
    return shapes


def _timing_cache(config: Any, path: Path) -> Any:
    cache = config.create_timing_cache(path.read_bytes() if path.exists() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def build_engine(
    onnx_path: Path, engine_path: Path, knobs: EngineKnobs, timing_cache: Path
) -> EngineFacts:
    """Write the serialized engine to ``engine_path`` and save the timing cache; return the facts
    the results disclose (TensorRT version, profile shapes, flags, the builder's own seconds)."""
    started = time.perf_counter()
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, _parser = _parse(trt, builder, logger, onnx_path)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, knobs.workspace_mb << 20)
    if hasattr(config, "builder_optimization_level"):
        config.builder_optimization_level = knobs.optimization_level
    tf32_flag = getattr(trt.BuilderFlag, "TF32", None)
    if tf32_flag is not None and not knobs.tf32:
        config.clear_flag(tf32_flag)
    _timing_cache(config, timing_cache)
    shapes = _add_profile(builder, network, config, knobs)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT failed to build an engine from {onnx_path.name} "
                         "(see its log above)")
    engine_path.write_bytes(bytes(serialized))
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return EngineFacts(
        tensorrt=str(trt.__version__),
        strongly_typed=True,
        profile=shapes,
        tf32=bool(tf32_flag is not None and knobs.tf32),
        timing_cache=str(timing_cache),
        engine_build_seconds=time.perf_counter() - started,
    )
