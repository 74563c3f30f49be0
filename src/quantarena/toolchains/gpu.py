"""Is an NVIDIA GPU visible to this process? Answered without importing torch or CUDA.

``quantarena list`` asks every variant whether it can run; importing torch or initialising CUDA for
that would cost seconds and memory in the orchestrator. Device nodes, NVML (a thin C library) and
``nvidia-smi`` answer the question.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess


def nvidia_gpu_problem() -> str | None:
    """``None`` when an NVIDIA GPU is visible to this process, else why not."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return f"no NVIDIA GPU (CUDA_VISIBLE_DEVICES={visible!r} hides every device)"
    count = _nvml_device_count()
    if count is not None:
        return None if count > 0 else "no NVIDIA GPU (the NVIDIA driver reports 0 devices)"
    if glob.glob("/dev/nvidia[0-9]*"):
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "no NVIDIA GPU (no /dev/nvidia* device, no nvidia-smi)"
    try:
        listing = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"no NVIDIA GPU (nvidia-smi failed: {exc})"
    if listing.returncode == 0 and "GPU" in listing.stdout:
        return None
    return "no NVIDIA GPU (nvidia-smi lists none)"


def _nvml_device_count() -> int | None:
    """Device count from NVML, or ``None`` when NVML is not installed or no driver is loaded."""
    if importlib.util.find_spec("pynvml") is None:
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound / DriverNotLoaded: no usable GPU
        return None
