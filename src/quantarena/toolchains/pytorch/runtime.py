"""Running PyTorch artifacts: one session class for every recipe, and the loaders that make it.

Three kinds of artifact exist: the FP32 state dict (rebuilt into its torchvision architecture),
TorchScript files (eager, FX and dynamic INT8: code, int8 weights and quantization parameters in
one file) and ``torch.export`` programs (fp32-compiled, PT2E, QAT), which are compiled here with
``torch.compile`` (Inductor, freezing). Freezing turns weights into constants, which is what lets
Inductor's quantization passes pack INT8 weights for oneDNN and replace quantize/dequantize + conv
patterns by real INT8 convolutions; without it the INT8 graph runs as FP32 with fake quantization.

Every session also knows its *exact twin* (``exact_twin``), decided here from the recipe: for PT2E
and QAT programs the same ``.pt2`` graph run by PyTorch's eager ops without Inductor, so
quantize/dequantize run in float around FP32 ops (exact arithmetic of the same quantized graph,
no INT8 kernel and so no 16-bit saturation); for TorchScript INT8 none (packed int8 weights run
only through the quantized engine's integer kernels); for FP32 none (nothing is quantized).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from quantarena.results.measurements import RUNS_ON_CPU, Unavailable
from quantarena.toolchains.base import Recipe
from quantarena.toolchains.pytorch import _common
from quantarena.toolchains.pytorch.recipes import (
    TorchCompiledFp32,
    TorchDynamicInt8,
    TorchEagerInt8,
    TorchFp32,
    TorchFxInt8,
    TorchPt2eInt8,
    TorchQatEagerInt8,
    TorchQatInt8,
)

#: Batch size compiled during ``load``: the latency pass runs at batch 1.
LOAD_BATCH = 1
#: Compiled graphs one compiled session keeps (one per batch shape: ``dynamic=False``). Dynamo's
#: default, 8, is less than a run uses: batch 1, the throughput and accuracy batches, and the
#: Server scenario's dynamic batches 1..8 make 9 or more. Past the limit Dynamo runs the module
#: *uncompiled*, silently: measured on a 2-core EPYC, a PT2E INT8 MobileNetV2 call at batch 8,
#: the 9th shape, took 1154 ms instead of ~17 ms, and Server failed its latency bound at any rate.
RECOMPILE_LIMIT = 64

#: Why FP32 sessions (eager or compiled) have no exact twin.
FP32_HAS_NO_TWIN = Unavailable(reason="an FP32 graph has no quantized arithmetic")
#: Why the exact twin itself has none.
ALREADY_EXACT = Unavailable(
    reason="this session is the exact twin: the quantized graph already runs in exact arithmetic"
)
#: A session made directly (tests, the FP32 reference helper), not by a loader that knows its
#: artifact.
UNDECLARED_TWIN = Unavailable(
    reason="no exact twin was declared for this module (it was not loaded from an artifact)"
)

#: The quantized engine's integer kernels that run eager and FX INT8 artifacts.
STATIC_INT8_KERNELS = "quantized::conv2d, quantized::linear"

#: A session's exact twin: how to make it (on demand: it costs a load and memory the deployed
#: session does not need), or why there is none.
TwinSource: TypeAlias = "Callable[[], TorchModuleSession] | Unavailable"


class TorchModuleSession:
    """Runs any callable torch module under ``inference_mode`` on NumPy batches. ``details``
    are what the loader knows about the artifact (format, engine, compile facts); ``twin`` is
    what the loader knows about its exact twin (see the module docstring)."""

    def __init__(
        self,
        module: Any,
        details: Mapping[str, Any] | None = None,
        *,
        twin: TwinSource = UNDECLARED_TWIN,
    ) -> None:
        self.module = module
        self.details: dict[str, Any] = dict(details or {})
        self._twin = twin

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

    def exact_twin(self) -> TorchModuleSession | Unavailable:
        """The same quantized graph in exact arithmetic (a new session each call), or why there
        is none for this artifact."""
        if isinstance(self._twin, Unavailable):
            return self._twin
        return self._twin()

    def gpu(self) -> Unavailable:
        """None: this session runs on the CPU."""
        return RUNS_ON_CPU


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
            return load_torchscript(
                artifact, recipe.engine, "TorchScript (eager-mode INT8)",
                twin=_packed_int8_has_no_twin(recipe.engine, STATIC_INT8_KERNELS),
            )
        case TorchQatEagerInt8():
            return load_torchscript(
                artifact, recipe.engine, "TorchScript (eager-mode QAT INT8)",
                twin=_packed_int8_has_no_twin(recipe.engine, STATIC_INT8_KERNELS),
            )
        case TorchFxInt8():
            return load_torchscript(
                artifact, recipe.engine, "TorchScript (FX INT8)",
                twin=_packed_int8_has_no_twin(recipe.engine, STATIC_INT8_KERNELS),
            )
        case TorchDynamicInt8():
            return load_torchscript(
                artifact, recipe.engine, "TorchScript (dynamic INT8 Linear)",
                twin=_packed_int8_has_no_twin(recipe.engine, "quantized::linear_dynamic"),
            )
        case TorchCompiledFp32():
            return load_compiled(artifact, freezing=recipe.freezing, quantized=False)
        case TorchPt2eInt8() | TorchQatInt8():
            return load_compiled(artifact, freezing=recipe.freezing, quantized=True)
    raise TypeError(f"no PyTorch loader for {type(recipe).__name__}")


def _packed_int8_has_no_twin(engine: str, kernels: str) -> Unavailable:
    """Why eager, FX and dynamic INT8 artifacts have no exact twin: their converted modules hold
    int8 weights packed for the quantized engine, and only its integer kernels execute them (no
    quantize/dequantize pair around a float op is left to run in float instead)."""
    return Unavailable(
        reason=f"the TorchScript INT8 module holds int8 weights packed for the {engine!r} "
        f"quantized engine, run only by its integer kernels ({kernels}): no faithful float path"
    )


def load_state_dict(artifact: Path) -> TorchModuleSession:
    """The FP32 module: its torchvision architecture (or the user's factory) with the saved
    weights."""
    import torch
    import torchvision

    from quantarena.models import factory_source

    saved = torch.load(artifact, map_location="cpu", weights_only=True)
    if "factory" in saved:
        module = factory_source.build_module(saved["factory"], saved["state_dict"])
    else:
        module = torchvision.models.get_model(saved["arch"], weights=None)
        module.load_state_dict(saved["state_dict"])
    return TorchModuleSession(module.eval(), twin=FP32_HAS_NO_TWIN)


def load_torchscript(
    artifact: Path, engine: str, format_name: str, *, twin: Unavailable
) -> TorchModuleSession:
    """A TorchScript module on ``engine``; deprecation warnings raised while loading become
    ``load_notes``."""
    import torch

    notes: list[str] = []
    with _common.captured_warnings(notes):
        _common.set_engine(engine)
        # torch.jit.load has no annotations
        module = torch.jit.load(str(artifact), map_location="cpu")  # type: ignore[no-untyped-call]  # untyped torch API
        module.eval()
    details = {"engine": engine, "format": format_name, "load_notes": notes}
    return TorchModuleSession(module, details, twin=twin)


def load_compiled(artifact: Path, *, freezing: bool, quantized: bool) -> TorchModuleSession:
    """Load the exported program and compile it now, so ``load`` time includes the compile of
    batch ``LOAD_BATCH``; another batch size compiles once more on its first call."""
    notes: list[str] = []
    with _common.captured_warnings(notes):
        session = _load_and_compile(artifact, freezing, quantized)
    session.details["load_notes"] = notes
    return session


def load_exact(artifact: Path) -> TorchModuleSession:
    """The exact twin of a PT2E/QAT program: the same ``.pt2`` graph loaded afresh and run by
    PyTorch's eager ops, never compiled. Its quantize/dequantize ops round and clamp exactly as
    the quantized graph says and the convolutions run in FP32 on the dequantized values, so
    nothing saturates; the deployed session runs the same graph lowered by Inductor to oneDNN INT8
    kernels. Loaded afresh rather than sharing the deployed module, so nothing Inductor did to
    that one (frozen constants, guards) can reach this one."""
    import torch

    notes: list[str] = []
    with _common.captured_warnings(notes):
        _register_quantized_ops()
        start = time.perf_counter()
        module = torch.export.load(str(artifact)).module()
        loaded = time.perf_counter() - start
    details = {
        "format": "torch.export program (.pt2)",
        "compiler": "none: the exported graph run by eager PyTorch ops (no Inductor)",
        "arithmetic": "exact: quantize/dequantize in float around FP32 ops, no INT8 kernels",
        "exact_twin_of": "the Inductor-compiled session of the same artifact",
        "export_load_seconds": round(loaded, 3),
        "load_notes": notes,
    }
    return TorchModuleSession(module, details, twin=ALREADY_EXACT)


def _register_quantized_ops() -> None:
    """Importing torchao's x86 quantizer registers the ops a converted PT2E graph calls and
    torchao's Inductor passes (weight prepack, qconv/qlinear fusions); without the passes Inductor
    would leave quantize/dequantize ops in FP32. Registering passes compiles nothing."""
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer  # noqa: F401


def _load_and_compile(artifact: Path, freezing: bool, quantized: bool) -> TorchModuleSession:
    import torch

    if quantized:
        _register_quantized_ops()

    start = time.perf_counter()
    program = torch.export.load(str(artifact))
    module = program.module()
    loaded = time.perf_counter() - start
    # Freezing is read from the global Inductor config: the per-call ``options`` route does not
    # reach the freezing passes in torch 2.14 (qconv weight prepack then fails at compile).
    torch._inductor.config.freezing = freezing
    torch._dynamo.config.recompile_limit = RECOMPILE_LIMIT
    twin: TwinSource = (
        functools.partial(load_exact, artifact) if quantized else FP32_HAS_NO_TWIN
    )
    session = TorchModuleSession(
        torch.compile(module, backend="inductor", dynamic=False), twin=twin
    )
    batch = np.zeros((LOAD_BATCH, *_input_shape(program)), dtype=np.float32)
    counted_before = _inductor_int8_counters()
    compile_start = time.perf_counter()
    session.run(batch)  # compiles under inference_mode, as every later run() call uses
    session.details.update({
        "format": "torch.export program (.pt2)",
        "compiler": "torch.compile(backend='inductor', dynamic=False)",
        "freezing": freezing,
        "compiled": f"during load at batch {LOAD_BATCH}; other batch sizes compile on first call",
        "recompile_limit": RECOMPILE_LIMIT,
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
