"""A GPU session's ``GpuAccess`` built on a torch CUDA stream: what the PyTorch CUDA, ONNX Runtime
GPU and TensorRT sessions share (all three run on torch's buffers and stream), so the events and
the device's identity are made one way. torch is passed in, never imported here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from quantarena.measure.gpu_access import GpuAccess, StagedCall


def pci_bus_id(props: Any) -> str | None:
    """NVML's form of the device's PCI address ("00000000:1B:00.0") from torch's device
    properties, or ``None`` when torch does not report it."""
    bus = getattr(props, "pci_bus_id", None)
    domain = getattr(props, "pci_domain_id", 0)
    dev = getattr(props, "pci_device_id", None)
    if bus is None or dev is None:
        return None
    return f"{domain:08x}:{bus:02x}:{dev:02x}.0"


def stream_access(
    torch: Any, device: Any, stream: Any, stage: Callable[[np.ndarray], StagedCall],
    runtime: str, *, torch_allocator: bool,
) -> GpuAccess:
    """Events recorded on ``stream``; ``torch_allocator``: the session allocates through torch's
    caching allocator, whose peak then counts (ONNX Runtime and TensorRT allocate outside it)."""
    props = torch.cuda.get_device_properties(device)

    def mark() -> Any:
        event = torch.cuda.Event(enable_timing=True)
        event.record(stream)
        return event

    def peak() -> float | None:
        return float(torch.cuda.max_memory_allocated(device)) / 2**20 if torch_allocator else None

    def reset() -> None:
        if torch_allocator:
            torch.cuda.reset_peak_memory_stats(device)

    return GpuAccess(
        device_name=str(props.name),
        device_index=int(device.index or 0),
        pci_bus_id=pci_bus_id(props),
        stage=stage,
        mark=mark,
        synchronize=stream.synchronize,
        allocator_peak_mb=peak,
        reset_allocator_peak=reset,
        runtime=runtime,
    )
