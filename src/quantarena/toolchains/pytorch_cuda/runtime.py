"""Running the CUDA artifacts: one session class, its call staged on its own stream (host-to-device
copy, compute, device-to-host copy) so the GPU meter can time each phase with events, and ``run``
doing the three and synchronising, so a host timer around it measures what a caller waits for.

The session also runs on the CPU (``open_session(..., device=cpu)``): that is how the tests check
the artifact, the casts and the staging on a machine without a GPU. Only ``load`` insists on CUDA.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.errors import ToolchainUnavailable
from quantarena.measure.gpu_access import GpuAccess, StagedCall
from quantarena.results.measurements import Unavailable
from quantarena.toolchains.base import Recipe
from quantarena.toolchains.pytorch_cuda.build import stored_dtype, torch_dtype
from quantarena.toolchains.pytorch_cuda.recipes import CudaInt8, CudaRecipe
from quantarena.toolchains.torch_stream import stream_access

#: Batch compiled during ``load`` (the latency pass runs at batch 1).
LOAD_BATCH = 1
#: Kernels listed in ``info`` (the largest device-time totals of one batch-1 call; a CNN launches
#: a few dozen distinct ones).
KERNELS_LISTED = 40

NO_TWIN = Unavailable(
    reason="GPU kernels have no exact-arithmetic twin; accuracy is compared image by image with "
    "the CPU FP32 reference"
)


def load(artifact: Path, recipe: Recipe, threads: int) -> CudaSession:
    """The session on the recipe's CUDA device; a one-line error when CUDA is not usable."""
    import torch

    if not isinstance(recipe, CudaRecipe):
        raise TypeError(f"no PyTorch (CUDA) loader for {type(recipe).__name__}")
    torch.set_num_threads(threads)
    if not torch.cuda.is_available():
        raise ToolchainUnavailable(
            "no usable NVIDIA GPU: torch.cuda.is_available() is False in this worker (no driver, "
            f"or a CPU-only torch build: torch {torch.__version__})"
        )
    if recipe.device_index >= torch.cuda.device_count():
        raise ToolchainUnavailable(
            f"device_index {recipe.device_index} does not exist: this worker sees "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    return open_session(artifact, recipe, torch.device("cuda", recipe.device_index))


def open_session(artifact: Path, recipe: CudaRecipe, device: Any) -> CudaSession:
    """Rebuild the module from the artifact on ``device``, set the recipe's math flags, compile
    it when asked (compiled now, at batch 1, so load time includes the compile)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = recipe.tf32
    torch.backends.cudnn.allow_tf32 = recipe.tf32
    torch.backends.cudnn.benchmark = recipe.cudnn_benchmark
    module, input_shape = rebuild(artifact, recipe)
    module = module.to(device)
    if recipe.compile_mode is not None:
        from quantarena.toolchains.pytorch.runtime import RECOMPILE_LIMIT

        torch._dynamo.config.recompile_limit = RECOMPILE_LIMIT  # one graph per batch shape
        module = torch.compile(module, mode=recipe.compile_mode, dynamic=False)
    session = CudaSession(module, recipe, device)
    session.run(np.zeros((LOAD_BATCH, *input_shape), dtype=np.float32))
    return session


def rebuild(artifact: Path, recipe: CudaRecipe) -> tuple[Any, tuple[int, ...]]:
    """The module with the artifact's weights, in the stored type, and its input's (C, H, W).
    torchao's quantized tensors replace the plain weights by assignment (``assign=True``):
    nothing is quantized again."""
    import torch
    import torchvision

    from quantarena.models import factory_source
    from quantarena.models.reference import parse_factory

    saved = torch.load(artifact, map_location="cpu", weights_only=True)
    dtype = torch_dtype(stored_dtype(recipe))
    shape = tuple(int(d) for d in saved["input_shape"])
    if isinstance(recipe, CudaInt8):
        if "factory" in saved:
            module = factory_source.call_factory(parse_factory(saved["factory"]))
        else:
            module = torchvision.models.get_model(saved["arch"], weights=None)
        module = module.to(dtype)
        module.load_state_dict(saved["state_dict"], assign=True)
        return module.eval(), shape
    if "factory" in saved:
        module = factory_source.build_module(
            saved["factory"], {k: v.float() for k, v in saved["state_dict"].items()}
        )
    else:
        module = torchvision.models.get_model(saved["arch"], weights=None)
        module.load_state_dict(saved["state_dict"])
    return module.to(dtype).eval(), shape


class CudaSession:
    """A module on a device, with pinned host buffers and device buffers sized for the largest
    batch seen, and its own stream. Logits come back as float32, whatever the arithmetic."""

    def __init__(self, module: Any, recipe: CudaRecipe, device: Any) -> None:
        import torch

        self.torch = torch
        self.module = module
        self.recipe = recipe
        self.device = device
        self.on_gpu = device.type == "cuda"
        self.stream = torch.cuda.Stream(device=device) if self.on_gpu else None  # type: ignore[no-untyped-call]  # unannotated in torch's stubs
        # Autocast takes FP32 inputs; a module cast (and torchao's INT8) takes its own type.
        self.input_dtype = (
            torch.float32 if recipe.cast == "autocast" and not isinstance(recipe, CudaInt8)
            else torch_dtype(recipe.dtype)
        )
        self._capacity = 0
        self.host_in: Any = None
        self.host_in_np: np.ndarray = np.empty(0, dtype=np.float32)
        self.device_in: Any = None
        self._kernels: list[str] | None = None

    # --- buffers and phases ------------------------------------------------------------------

    def _buffers(self, batch: np.ndarray) -> int:
        """Grow the buffers to ``batch``'s size (a new largest batch allocates once)."""
        n = int(batch.shape[0])
        if self._capacity == 0 or n > self._capacity or self.host_in.shape[1:] != batch.shape[1:]:
            torch = self.torch
            shape = (n, *batch.shape[1:])
            host = torch.empty(shape, dtype=torch.float32)
            self.host_in = host.pin_memory() if self.on_gpu else host
            self.host_in_np = self.host_in.numpy()
            self.device_in = torch.empty(shape, dtype=torch.float32, device=self.device)
            self._capacity = n
        return n

    @contextlib.contextmanager
    def _on_stream(self) -> Iterator[None]:
        if self.stream is None:
            yield
        else:
            with self.torch.cuda.stream(self.stream):
                yield

    def _autocast(self) -> Any:
        recipe = self.recipe
        if recipe.cast == "autocast" and recipe.dtype != "fp32" and not isinstance(
            recipe, CudaInt8
        ):
            return self.torch.autocast(self.device.type, dtype=torch_dtype(recipe.dtype))
        return contextlib.nullcontext()

    def stage(self, batch: np.ndarray) -> StagedCall:
        """``run``'s three phases; the batch is first copied into the pinned host buffer (a host
        memcpy outside every phase), then each phase only enqueues work on the stream."""
        n = self._buffers(batch)
        np.copyto(self.host_in_np[:n], batch, casting="same_kind")
        torch = self.torch
        result: dict[str, Any] = {}

        def copy_in() -> None:
            with self._on_stream():
                self.device_in[:n].copy_(self.host_in[:n], non_blocking=self.on_gpu)

        def compute() -> None:
            with self._on_stream(), torch.inference_mode(), self._autocast():
                logits = self.module(self.device_in[:n].to(self.input_dtype))
                result["device"] = logits.float()

        def copy_out() -> None:
            logits = result["device"]
            host = torch.empty(logits.shape, dtype=torch.float32)
            result["host"] = host.pin_memory() if self.on_gpu else host
            with self._on_stream():
                result["host"].copy_(logits, non_blocking=self.on_gpu)

        self._last = result
        return StagedCall(copy_in=copy_in, compute=compute, copy_out=copy_out)

    def _synchronize(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()

    # --- the Session contract ----------------------------------------------------------------

    def run(self, batch: np.ndarray) -> np.ndarray:
        staged = self.stage(batch)
        staged.copy_in()
        staged.compute()
        staged.copy_out()
        self._synchronize()
        logits: np.ndarray = self._last["host"].numpy().copy()
        return logits

    def raw_call(self, batch: np.ndarray) -> Callable[[], object]:
        """The module alone on ``batch`` already on the device, synchronised."""
        torch = self.torch
        n = self._buffers(batch)
        np.copyto(self.host_in_np[:n], batch, casting="same_kind")
        self.device_in[:n].copy_(self.host_in[:n])
        tensor = self.device_in[:n].to(self.input_dtype)
        self._synchronize()

        def call() -> object:
            with self._on_stream(), torch.inference_mode(), self._autocast():
                out = self.module(tensor)
            self._synchronize()
            return out

        return call

    def info(self) -> dict[str, Any]:
        """What ran: torch, CUDA and cuDNN versions, the GPU, the math flags read back, the
        arithmetic and the kernels one batch-1 call launched."""
        torch = self.torch
        info: dict[str, Any] = {
            "torch": torch.__version__,
            "device": str(self.device),
            "arithmetic": self.recipe.label,
            "input_dtype": str(self.input_dtype).replace("torch.", ""),
            "compile_mode": self.recipe.compile_mode,
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        }
        if self.on_gpu:
            props = torch.cuda.get_device_properties(self.device)
            info.update(
                gpu=props.name,
                compute_capability=f"{props.major}.{props.minor}",
                cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version(),
            )
        info["kernels"] = self.kernels()
        return info

    def kernels(self) -> list[str]:
        """The kernels (on the CPU: the operators) one batch-1 call ran, largest device time
        first, from ``torch.profiler``: which GEMM/convolution kernels the arithmetic used
        (e.g. whether an INT8 matmul kernel ran at all). Profiled once, on first ask."""
        if self._kernels is None:
            self._kernels = profile_kernels(self, self.on_gpu)
        return self._kernels

    def exact_twin(self) -> Unavailable:
        return NO_TWIN

    def gpu(self) -> GpuAccess | Unavailable:
        """The session's stream, events on it and its staged call."""
        if not self.on_gpu or self.stream is None:
            return Unavailable(reason=f"the session runs on {self.device}, not a CUDA device")
        torch = self.torch
        return stream_access(torch, self.device, self.stream, self.stage,
                             f"torch {torch.__version__} CUDA {torch.version.cuda}",
                             torch_allocator=True)


def profile_kernels(session: CudaSession, on_gpu: bool) -> list[str]:
    """Names of the device kernels (CPU operators when ``on_gpu`` is False) one batch-1 call ran,
    by total time, largest first."""
    from torch.profiler import ProfilerActivity, profile

    batch = np.zeros((1, *session.host_in.shape[1:]), dtype=np.float32)
    activity = ProfilerActivity.CUDA if on_gpu else ProfilerActivity.CPU
    with profile(activities=[activity]) as prof:
        session.run(batch)
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        time_us = (
            getattr(event, "device_time_total", 0.0) if on_gpu
            else getattr(event, "self_cpu_time_total", 0.0)
        )
        if time_us > 0:
            totals[event.key] = totals.get(event.key, 0.0) + float(time_us)
    return sorted(totals, key=lambda k: -totals[k])[:KERNELS_LISTED]
