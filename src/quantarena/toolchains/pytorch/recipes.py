"""PyTorch recipes (typed knobs) and the handler module that builds/loads each."""

from __future__ import annotations

from typing import ClassVar

from quantarena.toolchains.base import Recipe


class TorchFp32(Recipe):
    summary: ClassVar[str] = "eager FP32 module under torch.inference_mode (the reference)"


# recipe name -> (Recipe class, handler module inside quantarena.toolchains.pytorch)
RECIPES: dict[str, tuple[type[Recipe], str]] = {
    "fp32": (TorchFp32, "fp32"),
}
