"""Running PyTorch artifacts: one session class for every recipe, and the loaders that make it.

Three kinds of artifact exist: the FP32 state dict (rebuilt into its torchvision architecture),
TorchScript files (eager, FX and dynamic INT8: code, int8 weights and quantization parameters in
one file) and ``torch.export`` programs (fp32-compiled, PT2E, QAT), which are compiled here with
``torch.compile`` (Inductor, freezing). Freezing turns weights into constants, which is what lets
Inductor's quantization passes pack INT8 weights for oneDNN and replace quantize/dequantize + conv
patterns by real INT8 convolutions; without it the INT8 graph runs as FP32 with fake quantization.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.toolchains.base import Recipe
from quantarena.toolchains.pytorch import _common
from quantarena.toolchains.pytorch.recipes import (
    TorchCompiledFp32,
    TorchDynamicInt8,
    TorchEagerInt8,
    TorchFp32,
    TorchFxInt8,
    TorchPt2eInt8,
    TorchQatInt8,
)

#: Batch size compiled during ``load``: the latency pass runs at batch 1.
LOAD_BATCH = 1


class TorchModuleSession:
    """Runs any callable torch module under ``inference_mode`` on NumPy batches. ``details``
    are what the loader knows about the artifact (format, engine, compile facts)."""

    def __init__(self, module: Any, details: Mapping[str, Any] | None = None) -> None:
        self.module = module
        self.details: dict[str, Any] = dict(details or {})

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            result: np.ndarray = self.module(_as_tensor(batch)).numpy()
            return result

    def raw_call(self, batch: np.ndarray) -> Callable[[], object]:
        import torch

        tensor, module = _as_tensor(batch), self.module

        def call() -> object:
            with torch.inference_mode():
                return module(tensor)

        return call

    def info(self) -> dict[str, Any]:
        """The torch build and its settings as they are now (threads, quantized engine), then
        the loader's details."""
        import torch

        info: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads()}
        engine = getattr(torch.backends.quantized, "engine", None)
        if engine:
            info["quantized_engine"] = engine
        info.update(self.details)
        return info


def _as_tensor(batch: np.ndarray) -> Any:
    """A tensor sharing ``batch``'s memory where it can: ``np.require`` copies only arrays that
    are read-only or not C-contiguous float32 (torch needs all three)."""
    import torch

    return torch.from_numpy(np.require(batch, dtype=np.float32, requirements=["C", "W"]))


def load(artifact: Path, recipe: Recipe, threads: int) -> TorchModuleSession:
    """The session for ``recipe``'s artifact, with ``threads`` intra-op threads."""
    import torch

    torch.set_num_threads(threads)
    match recipe:
        case TorchFp32():
            return load_state_dict(artifact)
        case TorchEagerInt8():
            return load_torchscript(artifact, recipe.engine, "TorchScript (eager-mode INT8)")
        case TorchFxInt8():
            return load_torchscript(artifact, recipe.engine, "TorchScript (FX INT8)")
        case TorchDynamicInt8():
            return load_torchscript(artifact, recipe.engine, "TorchScript (dynamic INT8 Linear)")
        case TorchCompiledFp32():
            return load_compiled(artifact, freezing=recipe.freezing, quantized=False)
        case TorchPt2eInt8() | TorchQatInt8():
            return load_compiled(artifact, freezing=recipe.freezing, quantized=True)
    raise TypeError(f"no PyTorch loader for {type(recipe).__name__}")


def load_state_dict(artifact: Path) -> TorchModuleSession:
    """The FP32 module: its torchvision architecture with the saved weights."""
    import torch
    import torchvision

    saved = torch.load(artifact, map_location="cpu", weights_only=True)
    module = torchvision.models.get_model(saved["arch"], weights=None)
    module.load_state_dict(saved["state_dict"])
    return TorchModuleSession(module.eval())


def load_torchscript(artifact: Path, engine: str, format_name: str) -> TorchModuleSession:
    """A TorchScript module on ``engine``; deprecation warnings raised while loading become
    ``load_notes``."""
    import torch

    notes: list[str] = []
    with _common.captured_warnings(notes):
        _common.set_engine(engine)
        # torch.jit.load has no annotations
        module = torch.jit.load(str(artifact), map_location="cpu")  # type: ignore[no-untyped-call]
        module.eval()
    details = {"engine": engine, "format": format_name, "load_notes": notes}
    return TorchModuleSession(module, details)


def load_compiled(artifact: Path, *, freezing: bool, quantized: bool) -> TorchModuleSession:
    """Load the exported program and compile it now, so ``load`` time includes the compile of
    batch ``LOAD_BATCH``; another batch size compiles once more on its first call."""
    notes: list[str] = []
    with _common.captured_warnings(notes):
        session = _load_and_compile(artifact, freezing, quantized)
    session.details["load_notes"] = notes
    return session


def _load_and_compile(artifact: Path, freezing: bool, quantized: bool) -> TorchModuleSession:
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
    session = TorchModuleSession(torch.compile(module, backend="inductor", dynamic=False))
    batch = np.zeros((LOAD_BATCH, *_input_shape(program)), dtype=np.float32)
    counted_before = _inductor_int8_counters()
    compile_start = time.perf_counter()
    session.run(batch)  # compiles under inference_mode, as every later run() call uses
    session.details.update({
        "format": "torch.export program (.pt2)",
        "compiler": "torch.compile(backend='inductor', dynamic=False)",
        "freezing": freezing,
        "compiled": f"during load at batch {LOAD_BATCH}; other batch sizes compile on first call",
        "export_load_seconds": round(loaded, 3),
        "compile_seconds": round(time.perf_counter() - compile_start, 3),
    })
    if quantized:
        after = _inductor_int8_counters()
        session.details["int8_kernels"] = {k: after[k] - counted_before[k] for k in after}
    return session


def _input_shape(program: Any) -> tuple[int, ...]:
    """(C, H, W) of the program's image input, read from the graph itself."""
    name = program.graph_signature.user_inputs[0]
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == name)
    return tuple(int(s) for s in node.meta["val"].shape[1:])


def _inductor_int8_counters() -> dict[str, int]:
    """How many INT8 conv/linear patterns Inductor lowered (0 means the INT8 graph ran as FP32)."""
    from torch._dynamo.utils import counters

    keys = ("qconv_weight_prepack_matcher_count", "qlinear_weight_prepack_matcher_count")
    return {k.replace("_matcher_count", ""): int(counters["inductor"].get(k, 0)) for k in keys}
