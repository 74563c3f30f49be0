"""ONNX Runtime sessions on the CUDA and TensorRT execution providers (onnxruntime-gpu).

The session runs on torch's CUDA buffers and on a torch stream handed to ONNX Runtime as the
providers' ``user_compute_stream``, with inputs and outputs bound to the device buffers
(``IOBinding``): ONNX Runtime's kernels then run on the session's own stream, between events the
GPU meter records there, and nothing is copied behind the session's back. ``run`` = pinned host ->
device copy, ``run_with_iobinding``, device -> pinned host copy, one synchronise.

Opening it and refusing a silent fallback to another provider is ``gpu_providers``'s part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.errors import ModelError, ToolchainUnavailable
from quantarena.measure.gpu_access import GpuAccess, StagedCall
from quantarena.results.measurements import RUNS_ON_CPU, Unavailable
from quantarena.toolchains.onnxruntime.gpu_providers import (
    STREAM_OPTIONS,
    build_info,
    check_providers,
    create_session,
    graph_input,
    import_gpu_onnxruntime,
    with_stream,
)
from quantarena.toolchains.onnxruntime.gpu_recipes import TENSORRT, OrtGpuRecipe, ProviderOptions
from quantarena.toolchains.onnxruntime.runtime import session_options
from quantarena.toolchains.torch_stream import stream_access

#: The folder, next to the model, where the TensorRT provider caches its engines.
ENGINE_CACHE = "trt-engine-cache"
#: Run option: ONNX Runtime does not synchronise the device after a run (the session does).
NO_SYNC = "disable_synchronize_execution_providers"


def load(artifact: Path, recipe: OrtGpuRecipe, threads: int) -> OrtGpuSession:
    """The artifact on the recipe's provider and GPU, run once at batch 1 (TensorRT builds or
    reads its engine, cuDNN picks its algorithms) so the first timed call is not the build."""
    import torch

    if not torch.cuda.is_available():
        raise ToolchainUnavailable(
            "no usable NVIDIA GPU: torch.cuda.is_available() is False in this worker"
        )
    if recipe.device_id >= torch.cuda.device_count():
        raise ToolchainUnavailable(f"device_id {recipe.device_id} does not exist: this worker "
                                   f"sees {torch.cuda.device_count()} CUDA device(s)")
    ort = import_gpu_onnxruntime(recipe.provider)
    input_name, sample_shape = graph_input(artifact)
    cache = artifact.parent / ENGINE_CACHE
    if recipe.provider == TENSORRT:
        cache.mkdir(exist_ok=True)
    asked = recipe.provider_options(cache, input_name, sample_shape)
    device = torch.device("cuda", recipe.device_id)
    stream = torch.cuda.Stream(device=device)  # type: ignore[no-untyped-call]  # unannotated in torch's stubs
    options = session_options(threads, recipe.graph_optimization)
    session = create_session(ort, artifact, options, with_stream(asked, int(stream.cuda_stream)))
    check_providers(session, recipe.provider, ort)
    opened = OrtGpuSession(session, device=device, stream=stream, asked=asked,
                           max_batch=recipe.max_batch_size())
    opened.run(np.zeros((1, *sample_shape), dtype=np.float32))
    return opened


class OrtGpuSession:
    """One ``InferenceSession`` on a GPU provider, its input and output bound to device buffers
    sized for the largest batch seen so far (reallocated when a larger one comes).

    ``device``/``stream`` are torch's; with a CPU device and no stream (tests, on a CPU session)
    the same binding and staging run on the host, and ``gpu()`` says there is no GPU.
    """

    def __init__(self, session: Any, *, device: Any, stream: Any, asked: ProviderOptions,
                 max_batch: int | None = None) -> None:
        import onnxruntime as ort
        import torch

        self.torch, self.ort = torch, ort
        self.session, self.device, self.stream = session, device, stream
        self.asked, self.max_batch = asked, max_batch
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(f"expected one input and an output, the graph has "
                             f"{[i.name for i in inputs]} -> {[o.name for o in outputs]}")
        for arg in (inputs[0], outputs[0]):
            if arg.type != "tensor(float)":
                raise ModelError(f"{arg.name} is {arg.type}: the session binds float32 buffers")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.sample_shape = _fixed(inputs[0].shape[1:], inputs[0].name)
        self.output_shape = _fixed(outputs[0].shape[1:], outputs[0].name)
        self.binding = session.io_binding()
        self.run_options = ort.RunOptions()
        self.run_options.add_run_config_entry(NO_SYNC, "1")
        self.capacity = 0  # the batch the buffers hold
        self.bound = 0  # the batch the binding describes
        self._allocate(1)

    def _allocate(self, batch: int) -> None:
        """Buffers for ``batch`` samples (the device pair, and pinned host buffers on CUDA)."""
        torch = self.torch
        self._synchronize()  # nothing may still read or write the buffers being replaced
        pinned = self.device.type == "cuda"
        shapes = ((batch, *self.sample_shape), (batch, *self.output_shape))
        self.device_in, self.device_out = (
            torch.empty(s, dtype=torch.float32, device=self.device) for s in shapes
        )
        self.host_in, self.host_out = (
            torch.empty(s, dtype=torch.float32, pin_memory=pinned) for s in shapes
        )
        self.host_in_np, self.host_out_np = self.host_in.numpy(), self.host_out.numpy()
        self.capacity, self.bound = batch, 0

    def _bind(self, n: int) -> None:
        """Point the binding at the first ``n`` samples of the device buffers."""
        if n == self.bound:
            return
        kind, index = self.device.type, self.device.index or 0
        self.binding.bind_input(self.input_name, kind, index, np.float32,
                                (n, *self.sample_shape), self.device_in.data_ptr())
        self.binding.bind_output(self.output_name, kind, index, np.float32,
                                 (n, *self.output_shape), self.device_out.data_ptr())
        self.bound = n

    def _take(self, batch: np.ndarray) -> int:
        """Check ``batch``, grow the buffers if needed, copy it into the host input buffer."""
        n = int(batch.shape[0]) if batch.ndim else 0
        if n < 1 or tuple(batch.shape[1:]) != self.sample_shape:
            raise ModelError(f"input shape {tuple(batch.shape)} does not match the graph's "
                             f"(N, {', '.join(map(str, self.sample_shape))})")
        if self.max_batch is not None and n > self.max_batch:
            raise ModelError(f"batch {n} exceeds the TensorRT profile's max_batch "
                             f"{self.max_batch}; set a larger max_batch (the engine is rebuilt "
                             "at load)")
        if n > self.capacity:
            self._allocate(n)
        np.copyto(self.host_in_np[:n], batch, casting="same_kind")
        return n

    def _on_stream(self) -> contextlib.AbstractContextManager[object]:
        if self.stream is None:
            return contextlib.nullcontext()
        return self.torch.cuda.stream(self.stream)

    def _synchronize(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()

    def _stage(self, batch: np.ndarray) -> StagedCall:
        """``run``'s three phases; the batch goes into the pinned input buffer first (a host
        copy, outside every phase), then each phase only enqueues on the stream."""
        n = self._take(batch)

        def copy_in() -> None:
            with self._on_stream():
                self.device_in[:n].copy_(self.host_in[:n], non_blocking=True)

        def compute() -> None:
            self._bind(n)
            self.session.run_with_iobinding(self.binding, self.run_options)

        def copy_out() -> None:
            with self._on_stream():
                self.host_out[:n].copy_(self.device_out[:n], non_blocking=True)

        return StagedCall(copy_in=copy_in, compute=compute, copy_out=copy_out)

    def run(self, batch: np.ndarray) -> np.ndarray:
        staged = self._stage(batch)
        staged.copy_in()
        staged.compute()
        staged.copy_out()
        self._synchronize()
        logits: np.ndarray = self.host_out_np[: batch.shape[0]].astype(np.float32, copy=True)
        return logits

    def raw_call(self, batch: np.ndarray) -> Callable[[], object]:
        """``run_with_iobinding`` and a stream synchronise, with ``batch`` already on the device
        (copied once, here); the call returns the output as it lies on the device."""
        staged = self._stage(batch)
        staged.copy_in()
        self._synchronize()
        output = self.device_out[: batch.shape[0]]

        def call() -> object:
            staged.compute()
            self._synchronize()
            return output

        return call

    def info(self) -> dict[str, Any]:
        """The providers that really run, the options asked of them as the session reports them
        back, ONNX Runtime's version and the GPU."""
        effective = self.session.get_provider_options()
        package = build_info("package_name") or "onnxruntime"
        options = {
            name: {k: effective.get(name, {}).get(k, v) for k, v in asked.items()
                   if k not in STREAM_OPTIONS}
            for name, asked in self.asked
        }
        info: dict[str, Any] = {
            "providers": list(self.session.get_providers()),
            "provider_options": options,
            "onnxruntime": f"{package} {self.ort.__version__}",
            "io_binding": f"{self.device.type} buffers of torch, up to batch {self.capacity}",
        }
        if self.device.type == "cuda":
            props = self.torch.cuda.get_device_properties(self.device)
            info["gpu"] = str(props.name)
            info["compute_capability"] = f"{props.major}.{props.minor}"
            info["stream"] = "the session's own CUDA stream (user_compute_stream)"
        return info

    def exact_twin(self) -> Unavailable:
        """None: the providers pick their own kernels, with no exact-arithmetic mode."""
        return Unavailable(reason="ONNX Runtime's GPU providers pick their own kernels, with no "
                           "exact-arithmetic mode to switch to")

    def gpu(self) -> GpuAccess | Unavailable:
        """The stream ONNX Runtime computes on, events on it, and ``run`` staged. ONNX Runtime
        allocates outside torch's caching allocator: no allocator peak."""
        if self.stream is None or self.device.type != "cuda":
            return RUNS_ON_CPU
        runtime = f"ONNX Runtime {self.ort.__version__} {self.session.get_providers()[0]}"
        return stream_access(self.torch, self.device, self.stream, self._stage, runtime,
                             torch_allocator=False)


def _fixed(dims: list[Any], name: str) -> tuple[int, ...]:
    if not all(isinstance(d, int) and d > 0 for d in dims):
        raise ModelError(f"{name} has shape (N, {', '.join(map(str, dims))}): the session needs "
                         "fixed dimensions after the batch")
    return tuple(int(d) for d in dims)
