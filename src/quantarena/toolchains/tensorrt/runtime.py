"""Run a serialized TensorRT engine: host -> device copy, ``execute_async_v3``, device -> host copy,
synchronize, so a host timer around ``run`` measures the whole call. And run the INT8 graph's CPU
simulation, through ONNX Runtime's session function (no other toolchain's adapter is involved).

Device buffers, pinned host buffers and the stream come from torch's CUDA runtime. torch is
already a dependency of every run (the FP32 bundle is exported with it) and ships its own CUDA
runtime, so this adds no package and no second CUDA binding to keep in step with the driver;
``cuda-python`` would work too but gives raw pointers to manage by hand. TensorRT allocates its own
weights and activation memory outside torch's allocator, so device memory is read from NVML (the
process's share where the driver reports it), not from torch's counters.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.errors import ModelError, ToolchainUnavailable
from quantarena.measure.gpu_access import GpuAccess, StagedCall
from quantarena.results.measurements import RUNS_ON_CPU, Unavailable
from quantarena.toolchains.base import Recipe, Session
from quantarena.toolchains.onnxruntime import runtime as ort_runtime
from quantarena.toolchains.tensorrt.engine import import_tensorrt
from quantarena.toolchains.tensorrt.recipes import SIMULATED_TIMING, EngineKnobs, TrtInt8Simulated
from quantarena.toolchains.torch_stream import pci_bus_id, stream_access


def load(artifact: Path, recipe: Recipe, threads: int) -> Session:
    """The engine on the GPU, or the simulated variant's Q/DQ graph on ONNX Runtime's CPU
    provider with the recipe's graph optimization level and the run's threads, in exact
    arithmetic: TensorRT accumulates INT8 products in 32 bits, so scoring the graph with the CPU's
    fused integer kernels (whose u8×s8 sums saturate without VNNI) would charge TensorRT for the
    CPU's arithmetic."""
    match recipe:
        case TrtInt8Simulated():
            inner = ort_runtime.open_session(
                artifact, threads, recipe.graph_optimization, kind="qdq", exact=True
            )
            return SimulatedInt8Session(inner)
        case EngineKnobs():
            return TrtSession(artifact, recipe.max_batch, recipe.precision)
    raise TypeError(f"no TensorRT loader for {type(recipe).__name__}")


class SimulatedInt8Session:
    """ONNX Runtime (CPU) running the TensorRT-ready Q/DQ graph in exact arithmetic: accuracy
    only. Its recipe declares the speed unavailable; ``info`` says what was simulated and in which
    arithmetic."""

    def __init__(self, inner: ort_runtime.OrtSession) -> None:
        self.inner = inner

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.inner.run(batch)

    def raw_call(self, batch: np.ndarray) -> Callable[[], object]:
        return self.inner.raw_call(batch)

    def info(self) -> dict[str, Any]:
        return {
            **self.inner.info(),
            "simulates": "TensorRT explicit INT8 (Q/DQ) graph",
            "timing": SIMULATED_TIMING,
        }

    def exact_twin(self) -> Unavailable:
        """None: the session is the exact arithmetic already (see ``load``)."""
        return Unavailable(reason="the simulation already runs in exact arithmetic")

    def gpu(self) -> Unavailable:
        """None: the simulation runs on the CPU."""
        return RUNS_ON_CPU


class TrtSession:
    """One engine, one execution context, buffers sized for the profile's largest batch."""

    def __init__(self, engine_path: Path, max_batch_hint: int, precision: str) -> None:
        import torch

        self.precision = precision

        if not torch.cuda.is_available():
            raise ToolchainUnavailable(
                "no NVIDIA GPU: torch.cuda.is_available() is False in this worker"
            )
        trt = import_tensorrt()
        self.trt = trt
        self.torch = torch
        self.device = torch.device("cuda", torch.cuda.current_device())
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise ModelError(f"TensorRT cannot deserialize {engine_path.name} (built by another "
                             f"TensorRT version or for another GPU?)")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream(device=self.device)  # type: ignore[no-untyped-call]  # unannotated in torch's stubs
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"expected one input and one output, the engine has {inputs} -> {outputs}"
            )
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.max_batch = self._profile_max_batch(max_batch_hint)
        in_shape = tuple(self.engine.get_tensor_shape(self.input_name))
        self.sample_shape = in_shape[1:]
        self.context.set_input_shape(self.input_name, (self.max_batch, *self.sample_shape))
        out_shape = tuple(self.context.get_tensor_shape(self.output_name))
        self.in_dtype = self._torch_dtype(self.input_name)
        self.out_dtype = self._torch_dtype(self.output_name)
        self.device_in = torch.empty(
            (self.max_batch, *self.sample_shape), dtype=self.in_dtype, device=self.device
        )
        self.device_out = torch.empty(out_shape, dtype=self.out_dtype, device=self.device)
        self.host_in = torch.empty(self.device_in.shape, dtype=self.in_dtype).pin_memory()
        self.host_out = torch.empty(self.device_out.shape, dtype=self.out_dtype).pin_memory()
        # numpy views of the pinned buffers: the per-call host copy is a plain numpy copy.
        self.host_in_np = self.host_in.numpy()
        self.host_out_np = self.host_out.numpy()
        # Addresses stay fixed for the session's life: set once, not per call.
        self.context.set_tensor_address(self.input_name, self.device_in.data_ptr())
        self.context.set_tensor_address(self.output_name, self.device_out.data_ptr())
        self._batch = self.max_batch

    def _profile_max_batch(self, hint: int) -> int:
        if hasattr(self.engine, "get_tensor_profile_shape"):
            _, _, largest = self.engine.get_tensor_profile_shape(self.input_name, 0)
            return int(next(iter(largest)))
        return hint

    def _torch_dtype(self, name: str) -> Any:
        numpy_type = np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(name)))
        return self.torch.from_numpy(np.empty(0, dtype=numpy_type)).dtype

    def _bind(self, batch: np.ndarray) -> int:
        """Check ``batch`` against the profile, set the context's input shape; its size."""
        n = int(batch.shape[0])
        if n < 1 or n > self.max_batch:
            raise ModelError(f"batch {n} is outside the engine's profile 1..{self.max_batch}; "
                             "rebuild with a larger max_batch")
        if tuple(batch.shape[1:]) != self.sample_shape:
            raise ModelError(f"input shape {batch.shape[1:]} differs from the engine's "
                             f"{self.sample_shape}")
        if n != self._batch:
            self.context.set_input_shape(self.input_name, (n, *self.sample_shape))
            self._batch = n
        return n

    def raw_call(self, batch: np.ndarray) -> Callable[[], object]:
        """``execute_async_v3`` and a stream synchronize, with ``batch`` already on the device
        (copied once, here): the engine alone, without the copies ``run`` includes. The call
        returns the output as it lies on the device (a view, not copied to the host)."""
        n = self._bind(batch)
        np.copyto(self.host_in_np[:n], batch, casting="same_kind")
        self.device_in[:n].copy_(self.host_in[:n])
        self.torch.cuda.synchronize(self.device)
        context, stream, output = self.context, self.stream, self.device_out[:n]

        def call() -> object:
            if not context.execute_async_v3(stream.cuda_stream):
                raise ModelError("TensorRT execute_async_v3 failed (see its log above)")
            stream.synchronize()
            return output

        return call

    def run(self, batch: np.ndarray) -> np.ndarray:
        staged = self._stage(batch)
        staged.copy_in()
        staged.compute()
        staged.copy_out()
        self.stream.synchronize()
        return self.host_out_np[: batch.shape[0]].astype(np.float32, copy=True)

    def _stage(self, batch: np.ndarray) -> StagedCall:
        """``run``'s three phases on the session's stream: the batch goes into the pinned input
        buffer first (a host copy, outside every phase), then each phase only enqueues."""
        n = self._bind(batch)
        np.copyto(self.host_in_np[:n], batch, casting="same_kind")
        torch, stream = self.torch, self.stream

        def copy_in() -> None:
            with torch.cuda.stream(stream):
                self.device_in[:n].copy_(self.host_in[:n], non_blocking=True)

        def compute() -> None:
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise ModelError("TensorRT execute_async_v3 failed (see its log above)")

        def copy_out() -> None:
            with torch.cuda.stream(stream):
                self.host_out[:n].copy_(self.device_out[:n], non_blocking=True)

        return StagedCall(copy_in=copy_in, compute=compute, copy_out=copy_out)

    def gpu(self) -> GpuAccess:
        """The engine's stream, events on it, and ``run`` staged. TensorRT allocates its memory
        outside torch's caching allocator, so there is no allocator peak (NVML's per-process
        figure is the one that counts)."""
        return stream_access(self.torch, self.device, self.stream, self._stage,
                             f"TensorRT {self.trt.__version__}", torch_allocator=False)

    def info(self) -> dict[str, Any]:
        """TensorRT version, GPU, engine and device memory, energy counter availability."""
        props = self.torch.cuda.get_device_properties(self.device)
        info: dict[str, Any] = {
            "tensorrt": str(self.trt.__version__),
            "gpu": props.name,
            "compute_capability": f"{props.major}.{props.minor}",
            "max_batch": self.max_batch,
            "input_dtype": str(self.in_dtype).replace("torch.", ""),
            "io_buffers_mb": self.torch.cuda.max_memory_allocated(self.device) / 2**20,
        }
        activation = getattr(self.engine, "device_memory_size_v2", None)
        if activation is None:
            activation = getattr(self.engine, "device_memory_size", None)
        if activation is not None:
            info["engine_activation_memory_mb"] = int(activation) / 2**20
        info.update(device_memory(self.torch, self.device))
        return info

    def exact_twin(self) -> Unavailable:
        """None: an engine's kernels are TensorRT's choice, with no exact mode to switch to."""
        if self.precision != "int8":
            return Unavailable(reason=f"an {self.precision.upper()} engine has no quantized "
                               "arithmetic")
        return Unavailable(reason="a TensorRT engine has no exact-arithmetic mode (its INT8 "
                           "accumulates in 32 bits); tensorrt:int8-simulated scores the same "
                           "Q/DQ graph in exact arithmetic")


def device_memory(torch: Any, device: Any) -> dict[str, Any]:
    """This process's GPU memory from NVML; else device-wide use from the CUDA runtime (which
    then includes other processes, and says so)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = _nvml_handle(pynvml, torch, device)
        out: dict[str, Any] = {}
        for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == os.getpid() and proc.usedGpuMemory is not None:
                out["device_memory_mb"] = proc.usedGpuMemory / 2**20
                out["device_memory_source"] = "nvml (this process)"
        if "device_memory_mb" not in out:
            out["device_memory_mb"] = pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
            out["device_memory_source"] = "nvml (whole GPU, includes other processes)"
        try:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            out["energy_counter"] = "nvml total energy consumption"
        except pynvml.NVMLError as exc:
            out["energy_counter"] = f"unavailable: {exc}"
        return out
    except Exception as exc:  # noqa: BLE001 - NVML missing or no permission: fall back to CUDA
        free, total = torch.cuda.mem_get_info(device)
        return {
            "device_memory_mb": (total - free) / 2**20,
            "device_memory_source": "cuda mem_get_info (whole GPU, includes other processes)",
            "energy_counter": f"unavailable: NVML not usable ({type(exc).__name__})",
        }


def _nvml_handle(pynvml: Any, torch: Any, device: Any) -> Any:
    """The NVML handle of torch's device, matched by PCI bus id (NVML and CUDA may number
    devices differently under CUDA_VISIBLE_DEVICES)."""
    address = pci_bus_id(torch.cuda.get_device_properties(device))
    if address is not None:
        try:
            return pynvml.nvmlDeviceGetHandleByPciBusId(address)
        except pynvml.NVMLError:
            pass
    return pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
