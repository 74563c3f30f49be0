"""What a GPU session hands the GPU meter: its device, its stream's events and its call split into
the three phases a deployed call has (host-to-device copy, compute, device-to-host copy).

A host timer around ``Session.run`` measures the whole synchronised call, copies included, which
is what a caller waits for. It cannot say how much of that is the model: the GPU works
asynchronously, so only events recorded on the session's own stream between the phases can. The
session knows its stream and its buffers; the meter knows how to time. This contract keeps torch
and CUDA out of the meter, so the timing logic is tested on the CPU with fake events.

Nothing here imports torch or CUDA.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class DeviceEvent(Protocol):
    """A recorded event on the session's stream (``torch.cuda.Event(enable_timing=True)``)."""

    def elapsed_time(self, end: DeviceEvent) -> float:
        """Milliseconds from this event to ``end``, both completed."""
        ...

    def synchronize(self) -> None:
        """Wait until the event has completed."""
        ...


@dataclass(frozen=True)
class StagedCall:
    """One call of the session on one batch, as three pieces of work enqueued on its stream.
    Each returns as soon as its work is enqueued; the meter records events between them and
    synchronises once at the end. Run in order they do what ``Session.run`` does."""

    copy_in: Callable[[], object]  # host batch -> device input buffer
    compute: Callable[[], object]  # the model on the device buffers
    copy_out: Callable[[], object]  # device output -> host (pinned) buffer


@dataclass(frozen=True)
class GpuAccess:
    """A GPU session's device and stream, for the GPU meter."""

    #: the device as its driver names it, e.g. "NVIDIA H100 80GB HBM3"
    device_name: str
    #: the device's CUDA ordinal in this process
    device_index: int
    #: "00000000:1B:00.0": how NVML finds the same device (CUDA and NVML may number devices
    #: differently under CUDA_VISIBLE_DEVICES); ``None`` when the runtime does not say
    pci_bus_id: str | None
    #: the batch's call, staged (the batch is a float32 NCHW host array)
    stage: Callable[[np.ndarray], StagedCall]
    #: a new timing event, recorded now on the session's stream
    mark: Callable[[], DeviceEvent]
    #: wait for everything enqueued on the session's stream
    synchronize: Callable[[], None]
    #: the caching allocator's peak since the last reset, MiB (``max_memory_allocated``);
    #: ``None`` when the runtime allocates outside it (ONNX Runtime, TensorRT)
    allocator_peak_mb: Callable[[], float | None]
    #: start a new allocator peak (``reset_peak_memory_stats``); a no-op where there is none
    reset_allocator_peak: Callable[[], None]
    #: what runs the compute phase, for the results ("torch 2.x CUDA, cuDNN 9.x" ...)
    runtime: str = ""
