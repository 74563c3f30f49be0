"""``device: cuda``: what a GPU run changes in the configuration's defaults, and only there.

The default variant list and throughput batches are the CPU's; a GPU run wants the GPU variants
(with the CPU FP32 module kept as the accuracy reference every GPU row is compared with image by
image) and a batch that fills a GPU. What the user set explicitly is never replaced.
"""

from __future__ import annotations

from typing import Any

#: Throughput batches of a ``device: cuda`` run: one request, and a batch that fills a GPU.
GPU_BATCHES = (1, 64)

DEVICE_HELP = (
    "'cuda': the default variants become the GPU ones (PyTorch CUDA, ONNX Runtime CUDA/TensorRT, "
    "TensorRT, with the CPU FP32 module as the accuracy reference) and the throughput batches "
    "1 and 64; a GPU variant without a usable GPU is reported unavailable, with why"
)


def default_gpu_variants() -> list[str]:
    """The registry's GPU variant list (imported on use: the registry loads adapters)."""
    from quantarena.toolchains.registry import DEFAULT_GPU_VARIANTS

    return list(DEFAULT_GPU_VARIANTS)


def device_defaults(data: Any) -> Any:
    """The raw configuration with ``device: cuda``'s defaults filled in where the user set
    nothing (variants; ``measure.throughput_batches``)."""
    if not isinstance(data, dict) or data.get("device") != "cuda":
        return data
    data = dict(data)
    data.setdefault("variants", default_gpu_variants())
    measure = data.get("measure")
    if measure is None or (isinstance(measure, dict) and "throughput_batches" not in measure):
        data["measure"] = {**(measure or {}), "throughput_batches": list(GPU_BATCHES)}
    return data
