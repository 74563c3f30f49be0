"""Exported programs on disk, compiled with Inductor at load (shared by fp32-compiled, PT2E, QAT).

The artifact is a ``torch.export`` ``.pt2`` file with a dynamic batch dimension. A worker loads it
and compiles it with ``torch.compile`` (Inductor, freezing): freezing turns weights into constants,
which is what lets Inductor's quantization passes pack INT8 weights for oneDNN and replace
quantize/dequantize + conv patterns by real INT8 convolutions. Without freezing the INT8 graph
runs as FP32 with fake quantization, slower than FP32.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from quantarena.toolchains.pytorch.fp32 import TorchModuleSession

#: The largest batch the exported program accepts (a guard bound, not an allocation).
MAX_BATCH = 4096
#: Batch size compiled during ``load``: the latency pass runs at batch 1.
LOAD_BATCH = 1


def drop_unused_attributes(graph_module: Any) -> list[str]:
    """Delete tensors no node reads. ``convert_pt2e`` leaves the FP32 weights it replaced by
    folded int8 constants on the module; exporting it again would save both."""
    used = {node.target for node in graph_module.graph.nodes if node.op == "get_attr"}
    dropped = []
    for name in list(graph_module.state_dict(keep_vars=True)):
        if name in used:
            continue
        *path, leaf = name.split(".")
        owner = graph_module.get_submodule(".".join(path)) if path else graph_module
        delattr(owner, leaf)
        dropped.append(name)
    return dropped


def export_dynamic(module: Any, example: tuple[Any, ...]) -> Any:
    """``torch.export`` with a dynamic batch dimension, so calibration, training and inference
    may use any batch size."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    return torch.export.export(module, example, dynamic_shapes=({0: batch},))


def export_and_save(module: Any, example: tuple[Any, ...], target: Path) -> None:
    """Export ``module`` with a dynamic batch dimension and save it as ``.pt2``."""
    import torch

    program = export_dynamic(module, example)
    program.example_inputs = None  # real images have no place in a model file (and add MBs)
    torch.export.save(program, str(target))


def _input_shape(program: Any) -> tuple[int, ...]:
    """(C, H, W) of the program's image input, read from the graph itself."""
    name = program.graph_signature.user_inputs[0]
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == name)
    return tuple(int(s) for s in node.meta["val"].shape[1:])


def load_compiled(artifact: Path, *, freezing: bool, quantized: bool) -> TorchModuleSession:
    """Load the exported program and compile it now, so ``load`` time includes the compile of
    batch ``LOAD_BATCH``; another batch size compiles once more on its first call."""

    from quantarena.toolchains.pytorch._common import captured_warnings

    notes: list[str] = []
    with captured_warnings(notes):
        session = _load_and_compile(artifact, freezing, quantized)
    session.info["load_notes"] = notes
    return session


def _load_and_compile(artifact: Path, freezing: bool, quantized: bool) -> TorchModuleSession:
    import numpy as np
    import torch

    if quantized:
        # Importing the quantizer registers torchao's Inductor passes (weight prepack, qconv/qlinear
        # fusions); without them Inductor would leave quantize/dequantize ops in FP32.
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer  # noqa: F401

    start = time.perf_counter()
    program = torch.export.load(str(artifact))
    module = program.module()
    loaded = time.perf_counter() - start
    # Freezing is read from the global Inductor config: the per-call ``options`` route does not
    # reach the freezing passes in torch 2.14 (qconv weight prepack then fails at compile).
    torch._inductor.config.freezing = freezing
    compiled = torch.compile(module, backend="inductor", dynamic=False)
    session = TorchModuleSession(compiled)
    batch = np.zeros((LOAD_BATCH, *_input_shape(program)), dtype=np.float32)
    counted_before = _inductor_int8_counters()
    compile_start = time.perf_counter()
    session.run(batch)  # compiles under inference_mode, as every later run() call uses
    session.info = {
        "format": "torch.export program (.pt2)",
        "compiler": "torch.compile(backend='inductor', dynamic=False)",
        "freezing": freezing,
        "compiled": f"during load at batch {LOAD_BATCH}; other batch sizes compile on first call",
        "export_load_seconds": round(loaded, 3),
        "compile_seconds": round(time.perf_counter() - compile_start, 3),
    }
    if quantized:
        after = _inductor_int8_counters()
        session.info["int8_kernels"] = {k: after[k] - counted_before[k] for k in after}
    return session


def _inductor_int8_counters() -> dict[str, int]:
    """How many INT8 conv/linear patterns Inductor lowered (0 means the INT8 graph ran as FP32)."""
    from torch._dynamo.utils import counters

    keys = ("qconv_weight_prepack_matcher_count", "qlinear_weight_prepack_matcher_count")
    return {k.replace("_matcher_count", ""): int(counters["inductor"].get(k, 0)) for k in keys}
