"""The GpuAccess the torch-stream sessions share, on a fake torch: events recorded on the session's
stream, the device's PCI address in NVML's form, the allocator peak only where torch allocates."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from quantarena.toolchains.torch_stream import pci_bus_id, stream_access


class _Event:
    def __init__(self, enable_timing: bool) -> None:
        assert enable_timing
        self.stream: Any = None

    def record(self, stream: Any) -> None:
        self.stream = stream


def _torch(resets: list[Any]) -> Any:
    props = SimpleNamespace(name="Fake GPU", pci_bus_id=0x1B, pci_domain_id=0, pci_device_id=0)
    cuda = SimpleNamespace(
        get_device_properties=lambda device: props, Event=_Event,
        max_memory_allocated=lambda device: 3 * 2**20, reset_peak_memory_stats=resets.append,
    )
    return SimpleNamespace(cuda=cuda)


def test_events_go_on_the_session_stream_and_the_allocator_counts_only_for_torch() -> None:
    resets: list[Any] = []
    stream = SimpleNamespace(synchronize=lambda: None)
    device = SimpleNamespace(index=2)
    torch = _torch(resets)
    own = stream_access(torch, device, stream, lambda b: None, "torch", torch_allocator=True)
    assert own.mark().stream is stream
    assert (own.device_name, own.device_index, own.pci_bus_id) == ("Fake GPU", 2,
                                                                   "00000000:1b:00.0")
    assert own.allocator_peak_mb() == 3.0
    own.reset_allocator_peak()
    assert resets == [device]
    other = stream_access(torch, device, stream, lambda b: None, "ORT", torch_allocator=False)
    assert other.allocator_peak_mb() is None
    other.reset_allocator_peak()
    assert resets == [device]


def test_no_pci_address_when_torch_reports_none() -> None:
    assert pci_bus_id(SimpleNamespace(name="x")) is None
