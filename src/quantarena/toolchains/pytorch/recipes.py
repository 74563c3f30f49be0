"""PyTorch recipes (typed knobs) and the handler module that builds/loads each.

Every knob that changes the result is a field with a default, so the resolved recipe in the
results says exactly what was done. Facts a build decides or measures (observer classes read
back from the qconfig, QAT losses, layers quantized) go into ``BuildResult.recipe_details``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from quantarena.toolchains.base import Recipe

#: Quantized engines of ``torch.backends.quantized`` that run on x86. "x86" picks FBGEMM or
#: oneDNN per operator; "fbgemm"/"onednn" force one library.
X86Engine = Literal["x86", "fbgemm", "onednn"]


class TorchFp32(Recipe):
    summary: ClassVar[str] = "eager FP32 module under torch.inference_mode (the reference)"


class TorchCompiledFp32(Recipe):
    """The fair FP32 baseline for Inductor INT8: same export and compiler, no quantization."""

    summary: ClassVar[str] = "FP32 exported program compiled with torch.compile (Inductor, freezing)"

    freezing: bool = True  # Inductor folds weights into constants (needed for INT8 kernels too)


class _StaticInt8(Recipe):
    """Static post-training quantization knobs shared by the eager, FX and PT2E flows."""

    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True

    calibration_images: int | None = Field(default=None, ge=1)  # None: the whole split
    calibration_batch: int = Field(default=16, ge=1)


class TorchEagerInt8(_StaticInt8):
    """``torch.ao.quantization`` eager flow on torchvision's quantizable twin of the model.

    The x86 qconfig observes activations with a histogram (uint8, per-tensor affine) and weights
    with a per-channel min/max (int8, per-channel symmetric).
    """

    summary: ClassVar[str] = "eager-mode static INT8 (torch.ao.quantization, quantizable torchvision model)"

    engine: X86Engine = "x86"


class TorchFxInt8(_StaticInt8):
    """FX graph mode: any symbolically traceable module, qconfig mapping of the engine."""

    summary: ClassVar[str] = "FX graph mode static INT8 (prepare_fx/convert_fx)"

    engine: X86Engine = "x86"


class TorchPt2eInt8(_StaticInt8):
    """torch.export + torchao's X86InductorQuantizer; Inductor lowers to oneDNN INT8 kernels."""

    summary: ClassVar[str] = "PT2E static INT8 (torchao X86InductorQuantizer) compiled with Inductor"
    requires: ClassVar[tuple[str, ...]] = ("torchao",)

    reduce_range: bool = False  # 7-bit activations, only for CPUs without VNNI
    freezing: bool = True


class TorchQatInt8(Recipe):
    """PT2E quantization-aware training distilled from the FP32 model on calibration images.

    No labels are used: the loss is KL(teacher || student) on logits at ``temperature``. Batch
    norm runs on its running statistics from the first step (32-image batches are too small to
    re-estimate them); observers stop updating at ``freeze_observers_step``.
    """

    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = "PT2E quantization-aware training (FP32 teacher, KL distillation) then INT8"
    requires: ClassVar[tuple[str, ...]] = ("torchao",)

    steps: int = Field(default=60, ge=1)
    batch_size: int = Field(default=16, ge=1)
    # SGD, not Adam: Adam moves every weight by about the learning rate whatever its gradient,
    # which flips the rounding of small weights and raised the loss in our runs.
    learning_rate: float = Field(default=1e-3, gt=0)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = Field(default=0.9, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    temperature: float = Field(default=1.0, gt=0)
    horizontal_flip: bool = True  # random flips as augmentation
    # Batch-norm scale/shift stay fixed by default: with BN folded into the conv weights during
    # QAT, near-dead channels (tiny gamma / running std) turn their gradients into huge steps.
    train_batchnorm: bool = False
    max_grad_norm: float | None = Field(default=1.0, gt=0)
    freeze_observers_step: int | None = None  # None: half of ``steps``
    calibration_images: int | None = Field(default=None, ge=1)  # None: the whole split
    seed: int = 0
    reduce_range: bool = False
    freezing: bool = True


class TorchDynamicInt8(Recipe):
    """Dynamic quantization of ``nn.Linear`` only: on a CNN only the classifier changes."""

    precision: ClassVar[str] = "int8"
    summary: ClassVar[str] = "dynamic INT8 of Linear layers (weights int8, activations quantized per call)"

    engine: X86Engine = "x86"


# recipe name -> (Recipe class, handler module inside quantarena.toolchains.pytorch)
RECIPES: dict[str, tuple[type[Recipe], str]] = {
    "fp32": (TorchFp32, "fp32"),
    "fp32-compiled": (TorchCompiledFp32, "compiled_fp32"),
    "int8-eager": (TorchEagerInt8, "eager_int8"),
    "int8-fx": (TorchFxInt8, "fx_int8"),
    "int8-pt2e": (TorchPt2eInt8, "pt2e_int8"),
    "int8-qat": (TorchQatInt8, "qat_int8"),
    "int8-dynamic": (TorchDynamicInt8, "dynamic_int8"),
}
