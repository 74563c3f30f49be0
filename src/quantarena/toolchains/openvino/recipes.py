"""OpenVINO recipes: typed knobs for the FP32 IR and for NNCF's two post-training INT8 paths, and
the facts each build reports.

Knob names follow NNCF's own keyword arguments, so a result reads like the call that made it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from quantarena.hardware import Resolved
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildFacts, Needs, Recipe
from quantarena.tune.space import Choice, Count, Knob

_INSTALL = "pip install 'quantarena[openvino]'"

#: NNCF's ``OverflowFix`` members by lower-case name (``first_layer`` is ``FIRST_LAYER``, whose
#: value is "first_layer_only"), plus ``auto``: resolved per CPU at build time (``quantize``).
OverflowFixKnob = Literal["auto", "enable", "first_layer", "disable"]


class OvFp32Facts(BuildFacts):
    #: the IR's weight type: f32 on purpose (``save_model`` would otherwise halve them to f16)
    ir_weights: Literal["f32"] = "f32"


class OvFp32(Recipe):
    """The FP32 ONNX export converted to IR with FP32 weights (``save_model`` would otherwise
    store FP16 weights) and run with the f32 inference-precision hint (the CPU plugin otherwise
    runs bf16 on CPUs that have it, which is not an FP32 baseline)."""

    summary: ClassVar[str] = "FP32 ONNX converted to OpenVINO IR, run in f32 on the CPU plugin"
    needs: ClassVar[Needs] = Needs(packages=("openvino",), install=_INSTALL)
    #: the second choice of FP32 reference, after ONNX Runtime's plain export
    reference_rank: ClassVar[int | None] = 2
    Facts: ClassVar[type[BuildFacts]] = OvFp32Facts


class OvInt8Facts(BuildFacts):
    #: calibration images NNCF read (``subset_size`` capped at the calibration split)
    calibration_images_used: int
    #: FakeQuantize ops in the saved IR: zero would mean nothing was quantized
    fake_quantize_nodes: int
    #: the NNCF version that quantized (its algorithms change between releases)
    nncf: str
    #: what ``overflow_fix`` became on this machine and why: the value NNCF was given, in the
    #: knob's words ("enable", "first_layer", "disable")
    saturation_remedy: Resolved


class OvInt8(Recipe):
    """``nncf.quantize``: static post-training INT8 with NNCF's defaults for CNNs (symmetric
    per-channel weights, MinMax-style range estimation, fast bias correction).

    ``overflow_fix`` is NNCF's remedy for CPUs whose u8×s8 products are summed in saturating 16
    bits (x86 without VNNI): it quantizes the weights of the chosen layers to half the 8-bit range
    ("enable": every convolution and MatMul except depthwise convolutions, which NNCF's OpenVINO
    backend types apart from grouped ones and leaves full-range; "first_layer": the first
    convolution after each model input; "disable": none). ``auto`` resolves per CPU: "enable"
    where the sums saturate, otherwise NNCF's own default (read from NNCF: "first_layer" in NNCF
    3.4), so on a VNNI CPU the build is what NNCF does when asked nothing. Any other value is
    passed as named, on every CPU, so the vendor default is one knob away."""

    #: 2: ``overflow_fix`` added (version 1 builds passed none, i.e. NNCF's default everywhere)
    version: ClassVar[int] = 2
    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = "NNCF post-training INT8 (calibrated), OpenVINO IR"
    needs: ClassVar[Needs] = Needs(packages=("openvino", "nncf"), install=_INSTALL)
    Facts: ClassVar[type[BuildFacts]] = OvInt8Facts
    # "mixed" is NNCF's asymmetric-activation preset; fast bias correction is its bias correction
    search_space: ClassVar[tuple[Knob, ...]] = (
        Count("subset_size", low=16),
        Choice("preset", ("performance", "mixed")),
        Choice("fast_bias_correction", (True, False)),
        Choice("overflow_fix", ("auto", "enable", "first_layer", "disable")),
    )

    preset: Literal["performance", "mixed"] = "performance"
    # None: every calibration image (NNCF's own default caps at 300).
    subset_size: int | None = Field(default=None, ge=1)
    fast_bias_correction: bool = True
    model_type: Literal["transformer"] | None = None
    # The CPU is what every OpenVINO variant runs on here; "any" is NNCF's portable default.
    target_device: Literal["cpu", "any", "cpu_spr", "gpu", "npu"] = "cpu"
    overflow_fix: OverflowFixKnob = "auto"
    # ONNX layer names kept in floating point (NNCF's ``ignored_scope``): mixed precision.
    ignored_scope: tuple[str, ...] = ()

    layer_knob: ClassVar[str | None] = "ignored_scope"
    #: the vendor's own accuracy restorer for this recipe: ``tune`` runs it beside its fallback
    accuracy_control: ClassVar[str | None] = "int8-accuracy-control"
    # nncf MinMaxQuantization: per-tensor activations MEAN_MINMAX (mean over images of each
    # image's min and max), weights MINMAX per channel; fast bias correction after it
    default_calibrator: ClassVar[str] = "NNCF mean min/max (default)"
    study_cost_s: ClassVar[dict[str | None, tuple[float, float]]] = {None: (11.5, 0.02)}

    @classmethod
    def layers(cls, bundle: ModelBundle) -> list[str]:
        """The ONNX layers whose weights NNCF quantizes (Conv, Gemm, MatMul), by name."""
        from quantarena.toolchains.onnxruntime.recipes import OrtStaticInt8

        return OrtStaticInt8.layers(bundle)


class OvAccuracyControlFacts(OvInt8Facts):
    """NNCF reports little of what accuracy control did; these are measured by quantarena on the
    held-apart validation images (top-1 as fractions, drops absolute: 0.01 = 1 point)."""

    validation_images: int
    validation_top1_fp32: float
    #: the fully quantized model, before any layer was reverted
    validation_top1_before_restore: float
    validation_top1: float
    validation_drop_before_restore: float
    validation_drop: float
    quantized_layers_before_restore: int
    quantized_layers: int
    #: friendly names of the ops that went back to floating point
    reverted_layers: list[str]


class OvInt8AccuracyControl(OvInt8):
    """``nncf.quantize_with_accuracy_control``: INT8 as above, then layers are reverted to
    floating point, most harmful first, until the top-1 drop on a held-apart validation part of
    the calibration split is within ``max_drop``. The evaluation split is never seen.
    ``overflow_fix`` resolves as for ``OvInt8`` and applies to the quantization NNCF starts from
    (and so to the model it validates on this CPU while reverting layers)."""

    #: 2: ``overflow_fix`` inherited from ``OvInt8`` (its version 2)
    version: ClassVar[int] = 2
    summary: ClassVar[str] = (
        "NNCF INT8 with accuracy control: layers back to FP32 until validation drop <= max_drop"
    )
    Facts: ClassVar[type[BuildFacts]] = OvAccuracyControlFacts

    # 0.01 = 1 point of top-1 (absolute) or 1% of it (relative): a fraction either way
    max_drop: float = Field(default=0.01, ge=0.0, le=1.0)
    drop_type: Literal["absolute", "relative"] = "absolute"
    # Share of the calibration split kept apart for validation only (never calibrated on).
    validation_fraction: float = Field(default=0.35, gt=0.0, lt=1.0)
    # A count instead of a share: the last N images the build is given validate, the rest
    # calibrate (``tune`` appends its own validation split, so NNCF decides on the same images
    # as tune's fallback). None: ``validation_fraction`` decides.
    validation_tail: int | None = Field(default=None, ge=1)

    #: it is the accuracy restorer itself
    accuracy_control: ClassVar[str | None] = None
    default_calibrator: ClassVar[str] = "NNCF mean min/max (default), then accuracy control"
    # None: no limit (NNCF may revert every quantized layer); each iteration validates once.
    max_num_iterations: int | None = Field(default=None, ge=1)
    tune_hyperparams: bool = False
    ranking_subset_size: int | None = Field(default=None, ge=1)
    # One worker keeps ranking inside the run's thread budget; None lets NNCF decide.
    num_ranking_workers: int | None = Field(default=1, ge=1)
    restore_mode: Literal["activations_and_weights", "only_activations"] = "activations_and_weights"


# recipe name -> Recipe class
RECIPES: dict[str, type[Recipe]] = {
    "fp32": OvFp32,
    "int8": OvInt8,
    "int8-accuracy-control": OvInt8AccuracyControl,
}
