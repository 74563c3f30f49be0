"""What each PyTorch build decides or measures, typed per recipe (observers read back from the
qconfig or quantizer, QAT losses, layers quantized, the saturation remedy that ran). Kept apart
from ``recipes.py``, which holds what a user asks for."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from quantarena.hardware import Resolved
from quantarena.toolchains.base import BuildFacts

#: How an artifact holding code was serialized: scripting, or tracing when scripting fails.
Serializer = Literal["torch.jit.script", "torch.jit.trace"]


class ObserverFacts(BaseModel):
    """An observer (or fake-quant) of ``torch.ao.quantization``, read back from an instance."""

    model_config = ConfigDict(extra="forbid")
    observer: str
    dtype: str
    granularity: Literal["per-channel", "per-tensor"]
    scheme: Literal["symmetric", "affine"]
    reduce_range: bool


class QuantSpecFacts(BaseModel):
    """A PT2E ``QuantizationSpec``, read back from the quantizer's config."""

    model_config = ConfigDict(extra="forbid")
    observer: str
    dtype: str
    granularity: Literal["per-channel", "per-tensor"]
    scheme: Literal["symmetric", "affine"]
    range: tuple[int, int]


class TorchAoStaticFacts(BuildFacts):
    """What an eager or FX static INT8 build did (``torch.ao.quantization``)."""

    quantized_engine: str  # torch.backends.quantized.engine after the build
    flow: str
    activations: ObserverFacts
    weights: ObserverFacts
    serialized_with: Serializer
    quantized_modules: dict[str, int]  # module class -> count, after convert
    # No knob here: the engine's qconfig decides; this states what it decided (asked="qconfig",
    # value: the activation observer's reduce_range read back) and why.
    saturation_remedy: Resolved
    torch: str


class Pt2eFacts(BuildFacts):
    """What every PT2E build (PTQ or QAT) did: the quantizer and its read-back config."""

    quantized_engine: str
    flow: str
    quantizer: str
    activations: QuantSpecFacts
    weights: QuantSpecFacts
    fp32_tensors_dropped: int  # FP32 weights left on the converted module, not saved
    compiler: str
    # The ``reduce_range`` knob as resolved for this CPU: asked, value given to the quantizer, why.
    saturation_remedy: Resolved
    # The ``module_form`` knob as resolved for this model: as-is, quantizable-twin or
    # split-reused-modules, and why (absent from results written before the knob existed). A
    # fact never reuses a knob's name, so the two blocks cannot overwrite each other.
    quantized_form: Resolved | None = None
    torch: str
    torchao: str


# --- the recipes and their facts ----------------------------------------------------------------


class TorchFp32Facts(BuildFacts):
    """The FP32 artifact is a state dict; these say what reloads it."""

    # what rebuilds the module at load: the torchvision architecture (``mobilenet_v2``) or the
    # user's factory (``package.module:factory(...)``, told apart by its colon)
    arch: str
    torch: str


class TorchCompiledFp32Facts(BuildFacts):
    """How the program was exported and how a worker compiles it."""

    export: str
    compiler: str
    torch: str


class TorchEagerInt8Facts(TorchAoStaticFacts):
    """Eager mode fuses with the quantizable twin's own ``fuse_model``."""

    fused: str


class TorchFxInt8Facts(TorchAoStaticFacts):
    """FX quantizes by a qconfig mapping, not a single qconfig."""

    qconfig_mapping: str
    #: Conv2d/Linear modules still in floating point after convert, read back from the module
    #: types (``fp32_modules`` asks for them; empty in results written before the knob existed)
    layers_kept_in_fp32: list[str] = []


class TorchPt2eInt8Facts(Pt2eFacts):
    """PT2E PTQ folds batch norm into the convolutions while preparing."""

    fused: str
    #: modules whose conv/linear still takes a float weight in the converted graph, read back
    #: from the graph (``fp32_modules`` asks for them; empty in results written before it existed)
    layers_kept_in_fp32: list[str] = []


class QatSeconds(BaseModel):
    """Where the QAT build's time went (the base adapter times the whole build). For eager QAT
    ``export_and_prepare`` is fusing and ``prepare_qat`` (nothing is exported)."""

    model_config = ConfigDict(extra="forbid")
    export_and_prepare: float
    training: float
    convert_and_save: float


class QatTrainingFacts(BuildFacts):
    """What training did, so a QAT result can be told from a failed one: losses before and after,
    how far the weights moved, when observers and batch norm stopped changing. Both QAT paths
    report these, from the same training loop (``_distill.py``)."""

    teacher: str
    trained: str  # which parameters the optimizer moved
    augmentation: str
    loss_start: float  # mean of the first ``loss_window_steps`` steps
    loss_end: float  # mean of the last ``loss_window_steps`` steps
    loss_window_steps: int
    loss_all_images_before: float
    loss_all_images_after: float
    loss_history: list[float]  # one loss per training step
    weights_changed_fraction: float
    weights_mean_relative_change: float
    observers_frozen_at_step: int
    batchnorm_frozen_at_step: int
    seconds: QatSeconds


class TorchQatInt8Facts(QatTrainingFacts, Pt2eFacts):
    """PT2E QAT: the quantizer's config and what training did."""


class TorchQatEagerInt8Facts(QatTrainingFacts, TorchAoStaticFacts):
    """Eager QAT: the engine's QAT qconfig read back, the twin's fusion, and what training did."""

    fused: str


class TorchDynamicInt8Facts(BuildFacts):
    """Which layers dynamic quantization replaced (on a CNN, the classifier only)."""

    quantized_engine: str
    flow: str
    weights: ObserverFacts
    activations: str
    quantized_layers: list[str]  # the nn.Linear layers replaced by dynamic INT8 ones
    # Linear layers the model never calls (it reads their weights itself): left FP32
    fp32_linear_layers: list[str] = []
    serialized_with: Serializer
    torch: str
