"""PyTorch recipes: the typed knobs of each variant, what it needs, and the facts its build reports.

Every knob that changes the result is a field with a default, so the resolved recipe in the
results says exactly what was asked. What the build decided or read back (observer classes, QAT
losses, layers quantized) is a typed ``Facts`` model of its own, and no fact reuses a knob's name:
the two blocks are stored side by side and neither may overwrite the other.
"""

from __future__ import annotations

from typing import ClassVar, Literal, TypeAlias

from pydantic import Field

from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildFacts, Needs, Recipe
from quantarena.toolchains.pytorch import _fp32_layers
from quantarena.toolchains.pytorch.facts import (
    TorchCompiledFp32Facts,
    TorchDynamicInt8Facts,
    TorchEagerInt8Facts,
    TorchFp32Facts,
    TorchFxInt8Facts,
    TorchPt2eInt8Facts,
    TorchQatEagerInt8Facts,
    TorchQatInt8Facts,
)
from quantarena.tune.space import REMEDY_OPTIONS, Choice, Count, Knob

#: Quantized engines of ``torch.backends.quantized`` that run on x86. "x86" picks FBGEMM or
#: oneDNN per operator; "fbgemm"/"onednn" force one library.
X86Engine = Literal["x86", "fbgemm", "onednn"]


TORCH = Needs(
    packages=("torch", "torchvision"),
    install="pip install 'quantarena[torch]'",
    torch_module=True,
)
TORCH_AND_TORCHAO = Needs(
    packages=("torch", "torchvision", "torchao"),
    install="pip install 'quantarena[pytorch-quant]'",
    torch_module=True,
)

#: The PT2E saturation remedy knob: ``auto`` resolves per CPU (``hardware.saturation_remedy``),
#: ``True``/``False`` force 7-bit / 8-bit activations.
ReduceRange: TypeAlias = Literal["auto"] | bool

#: Architectures with a quantizable torchvision twin whose state dict matches the plain model.
QUANTIZABLE = frozenset({
    "mobilenet_v2", "mobilenet_v3_large", "resnet18", "resnet50",
    "resnext101_32x8d", "resnext101_64x4d",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
})

#: The form of the model PT2E quantizes (``_module_form.py``). The x86 quantizer refuses a module
#: called twice (ResNet blocks call one ReLU twice: "Input partition has more than one output
#: node"). ``auto``: the model as defined when no module is reused, else torchvision's quantizable
#: twin where one exists, else the graph with each call of a reused module labelled apart.
ModuleForm: TypeAlias = Literal["auto", "as-is", "quantizable-twin", "split-reused-modules"]


def has_twin(bundle: ModelBundle) -> bool:
    """Whether torchvision has a quantizable twin of the bundle's model (a user's factory has
    none, even when it returns a torchvision architecture: its weights may not fit the twin)."""
    return bundle.torch_factory is None and bundle.torch_arch in QUANTIZABLE


def _needs_twin(bundle: ModelBundle, flow: str) -> str | None:
    """Eager mode needs QuantStub/DeQuantStub, FloatFunctional adds and ``fuse_model``, which
    only torchvision's quantizable twins provide."""
    if has_twin(bundle):
        return None
    if bundle.torch_factory is not None:
        return (
            f"{flow} needs torchvision's quantizable twin of the model (QuantStub, "
            f"FloatFunctional adds, fuse_model); {bundle.torch_factory} is a user's factory, "
            "which has none; use pytorch:int8-fx, pytorch:int8-pt2e or pytorch:int8-qat"
        )
    return (
        f"torchvision has no quantizable version of {bundle.torch_arch} ({flow} needs one; "
        f"it has: {', '.join(sorted(QUANTIZABLE))}); use pytorch:int8-fx, pytorch:int8-pt2e or "
        "pytorch:int8-qat"
    )


# --- the recipes ------------------------------------------------------------------------------


class TorchFp32(Recipe):
    summary: ClassVar[str] = "eager FP32 module under torch.inference_mode (the reference)"
    needs: ClassVar[Needs] = TORCH
    reference_rank: ClassVar[int | None] = 0  # the preferred FP32 reference of the whole tool
    Facts: ClassVar[type[BuildFacts]] = TorchFp32Facts


class TorchCompiledFp32(Recipe):
    """The fair FP32 baseline for Inductor INT8: same export and compiler, no quantization."""

    summary: ClassVar[str] = (
        "FP32 exported program compiled with torch.compile (Inductor, freezing)"
    )
    needs: ClassVar[Needs] = TORCH
    reference_rank: ClassVar[int | None] = 3
    Facts: ClassVar[type[BuildFacts]] = TorchCompiledFp32Facts

    freezing: bool = True  # Inductor folds weights into constants (needed for INT8 kernels too)


class _StaticInt8(Recipe):
    """Static post-training quantization knobs shared by the eager, FX and PT2E flows."""

    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    needs: ClassVar[Needs] = TORCH

    calibration_images: int | None = Field(default=None, ge=1)  # None: the whole split
    calibration_batch: int = Field(default=16, ge=1)


class TorchEagerInt8(_StaticInt8):
    """``torch.ao.quantization`` eager flow on torchvision's quantizable twin of the model.

    The x86 qconfig observes activations with a histogram (uint8, per-tensor affine) and weights
    with a per-channel min/max (int8, per-channel symmetric).
    """

    summary: ClassVar[str] = (
        "eager-mode static INT8 (torch.ao.quantization, quantizable torchvision model)"
    )
    Facts: ClassVar[type[BuildFacts]] = TorchEagerInt8Facts

    engine: X86Engine = "x86"

    @classmethod
    def model_problem(cls, bundle: ModelBundle) -> str | None:
        return _needs_twin(bundle, "eager mode")


class _KeepsFp32Modules(Recipe):
    """Mixed precision by module name, shared by the FX and PT2E flows: the named Conv2d/Linear
    modules stay in FP32 (FX: ``QConfigMapping.set_module_name(name, None)``; PT2E: torchao's
    ``set_module_name_qconfig(name, None)``), the rest is quantized as the recipe says. A name
    that matches no such module is refused before anything is quantized (``_fp32_layers``)."""

    layer_knob: ClassVar[str | None] = _fp32_layers.KNOB

    # Added without a version bump: empty, its default, is what every earlier build did.
    fp32_modules: tuple[str, ...] = ()

    @classmethod
    def layers(cls, bundle: ModelBundle) -> list[str]:
        """The model's Conv2d and Linear modules by qualified name, in the order the graph runs
        them (torchvision's quantizable twins, which PT2E may quantize instead, name them alike:
        their state dicts match the plain model's key for key)."""
        return _fp32_layers.bundle_layers(bundle)


class TorchFxInt8(_KeepsFp32Modules, _StaticInt8):
    """FX graph mode: any symbolically traceable module, qconfig mapping of the engine."""

    summary: ClassVar[str] = "FX graph mode static INT8 (prepare_fx/convert_fx)"
    Facts: ClassVar[type[BuildFacts]] = TorchFxInt8Facts
    # The engine picks the qconfig as well as the kernels: x86 and fbgemm observe activations
    # with 7 bits (the saturation remedy for CPUs without VNNI), onednn with all 8.
    search_space: ClassVar[tuple[Knob, ...]] = (
        Count("calibration_images", low=16),
        Choice("engine", ("x86", "onednn", "fbgemm")),
    )

    engine: X86Engine = "x86"


class TorchPt2eInt8(_KeepsFp32Modules, _StaticInt8):
    """torch.export + torchao's X86InductorQuantizer; Inductor lowers to oneDNN INT8 kernels."""

    summary: ClassVar[str] = (
        "PT2E static INT8 (torchao X86InductorQuantizer) compiled with Inductor"
    )
    # get_default_x86_inductor_quantization_config: HistogramObserver on activations,
    # PerChannelMinMaxObserver on weights
    default_calibrator: ClassVar[str] = "torchao HistogramObserver (default)"
    study_cost_s: ClassVar[dict[str | None, tuple[float, float]]] = {None: (31.0, 0.04)}
    needs: ClassVar[Needs] = TORCH_AND_TORCHAO
    Facts: ClassVar[type[BuildFacts]] = TorchPt2eInt8Facts
    search_space: ClassVar[tuple[Knob, ...]] = (
        Count("calibration_images", low=16),
        Choice("reduce_range", REMEDY_OPTIONS),
    )

    # Version 2: ``reduce_range`` became "auto" | bool (was bool, default False).
    version: ClassVar[int] = 2

    # 7-bit activations against the u8×s8 16-bit overflow of CPUs without VNNI. "auto": on where
    # the CPU saturates; False is torchao's default (full 8 bits, unmitigated).
    reduce_range: ReduceRange = "auto"
    freezing: bool = True
    # A knob added without a version bump: every model that built before resolves to "as-is".
    module_form: ModuleForm = "auto"


class _DistilledQat(Recipe):
    """The training knobs shared by both QAT paths, so PT2E and eager QAT train on equal terms:
    same teacher, loss, images, augmentation, optimizer and step budget.

    No labels are used: the loss is KL(teacher || student) on logits at ``temperature``. Batch
    norm runs on its running statistics from the first step (16-image batches are too small to
    re-estimate them); observers stop updating at ``freeze_observers_step``.
    """

    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True

    steps: int = Field(default=60, ge=1)
    batch_size: int = Field(default=16, ge=1)
    # SGD, not Adam: Adam moves every weight by about the learning rate whatever its gradient,
    # which flips the rounding of small weights and raised the loss in our runs.
    learning_rate: float = Field(default=1e-3, gt=0)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = Field(default=0.9, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    temperature: float = Field(default=1.0, gt=0)
    horizontal_flip: bool = True  # random flips as augmentation
    # Batch-norm scale/shift stay fixed by default: with BN folded into the conv weights during
    # QAT, near-dead channels (tiny gamma / running std) turn their gradients into huge steps.
    train_batchnorm: bool = False
    max_grad_norm: float | None = Field(default=1.0, gt=0)
    # None: half of ``steps``; a step at or past ``steps`` never freezes them during training
    freeze_observers_step: int | None = Field(default=None, ge=0)
    calibration_images: int | None = Field(default=None, ge=1)  # None: the whole split
    seed: int = Field(default=0, ge=0)


class TorchQatInt8(_DistilledQat):
    """PT2E quantization-aware training distilled from the FP32 model on calibration images."""

    default_calibrator: ClassVar[str] = "QAT-trained ranges (default)"

    # Version 2: ``reduce_range`` became "auto" | bool (was bool, default False).
    version: ClassVar[int] = 2
    summary: ClassVar[str] = (
        "PT2E quantization-aware training (FP32 teacher, KL distillation) then INT8"
    )
    needs: ClassVar[Needs] = TORCH_AND_TORCHAO
    Facts: ClassVar[type[BuildFacts]] = TorchQatInt8Facts
    search_space: ClassVar[tuple[Knob, ...]] = (
        Count("steps", low=20, high=240),
        Count("calibration_images", low=32),
        Choice("reduce_range", REMEDY_OPTIONS),
    )

    # As for ``TorchPt2eInt8`` (the fake quantizers train with the range the kernels will use).
    reduce_range: ReduceRange = "auto"
    freezing: bool = True
    module_form: ModuleForm = "auto"


class TorchQatEagerInt8(_DistilledQat):
    """Eager-mode QAT as published comparisons run it: torchvision's quantizable twin, fused,
    ``prepare_qat`` with the engine's QAT qconfig, the same distillation as ``int8-qat``, then
    ``convert`` to a TorchScript INT8 module."""

    summary: ClassVar[str] = (
        "eager-mode quantization-aware training (prepare_qat, quantizable torchvision model, "
        "FP32 teacher) then INT8"
    )
    needs: ClassVar[Needs] = TORCH
    Facts: ClassVar[type[BuildFacts]] = TorchQatEagerInt8Facts

    engine: X86Engine = "x86"

    @classmethod
    def model_problem(cls, bundle: ModelBundle) -> str | None:
        return _needs_twin(bundle, "eager QAT")


class TorchDynamicInt8(Recipe):
    """Dynamic quantization of ``nn.Linear`` only: on a CNN only the classifier changes."""

    precision: ClassVar[str] = "int8"
    summary: ClassVar[str] = (
        "dynamic INT8 of Linear layers (weights int8, activations quantized per call)"
    )
    needs: ClassVar[Needs] = TORCH
    Facts: ClassVar[type[BuildFacts]] = TorchDynamicInt8Facts

    engine: X86Engine = "x86"


#: recipe name -> Recipe class (the variant is ``pytorch:<name>``)
RECIPES: dict[str, type[Recipe]] = {
    "fp32": TorchFp32,
    "fp32-compiled": TorchCompiledFp32,
    "int8-eager": TorchEagerInt8,
    "int8-fx": TorchFxInt8,
    "int8-pt2e": TorchPt2eInt8,
    "int8-qat": TorchQatInt8,
    "int8-qat-eager": TorchQatEagerInt8,
    "int8-dynamic": TorchDynamicInt8,
}
