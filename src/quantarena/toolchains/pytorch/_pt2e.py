"""PT2E pieces shared by the PTQ and QAT builders: the saturation remedy resolved for this CPU, the
x86 quantizer, its read-back description, and turning a converted model into a compact ``.pt2``
artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantarena import hardware
from quantarena.hardware import Resolved
from quantarena.toolchains.pytorch import _export
from quantarena.toolchains.pytorch.facts import QuantSpecFacts
from quantarena.toolchains.pytorch.recipes import ReduceRange

#: What runs the converted graph's quantized ops (a fact of every PT2E build).
KERNELS = "onednn (Inductor lowering)"


#: How the results name torchao's remedy (``hardware.saturation_remedy`` puts it in the ``why``).
REMEDY = "reduce_range (7-bit activations)"

#: The activation range of the x86 config without and with ``reduce_range``.
FULL_RANGE, REDUCED_RANGE = (0, 255), (0, 127)


def resolve_reduce_range(asked: ReduceRange) -> Resolved:
    """The recipe's ``reduce_range`` made concrete for the CPU this build runs on. torchao's x86
    config uses all 8 bits by default, which saturates the u8×s8 16-bit sums of CPUs without VNNI
    (measured: MobileNetV2 lost 6.4 pp top-1 on AVX2 against 0.5 pp with VNNI); ``auto`` turns the
    remedy on exactly there. Builds run on the machine that measures, so this is that CPU."""
    return hardware.saturation_remedy(asked, remedy=REMEDY)


def remedy_fact(resolved: Resolved, activations: QuantSpecFacts) -> Resolved:
    """The resolution as the facts record it: with the activation range the quantizer config
    really holds (read back), so a reader sees the 7 or 8 bits, not only the flag. A config that
    ignored the flag is an error, not a fact: the results would claim a remedy that never ran."""
    expected = REDUCED_RANGE if resolved.value else FULL_RANGE
    if activations.range != expected:
        raise RuntimeError(
            f"torchao's x86 config ignored reduce_range={resolved.value}: activations are "
            f"quantized to {list(activations.range)}, expected {list(expected)}"
        )
    low, high = activations.range
    return resolved.model_copy(
        update={"why": f"{resolved.why}; activations quantized to [{low}, {high}]"}
    )


def x86_quantizer(*, is_qat: bool, reduce_range: bool) -> tuple[Any, Any]:
    """torchao's X86InductorQuantizer with its default config; returns (quantizer, config)."""
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )

    config = get_default_x86_inductor_quantization_config(is_qat=is_qat, reduce_range=reduce_range)
    quantizer = X86InductorQuantizer()
    quantizer.set_global(config)
    return quantizer, config


def _describe_spec(spec: Any) -> QuantSpecFacts:
    ctor = spec.observer_or_fake_quant_ctr
    partial = getattr(ctor, "p", None)
    func = getattr(partial, "func", ctor)
    scheme = str(spec.qscheme)
    observer = getattr(func, "__name__", type(func).__name__)
    inner = (getattr(partial, "keywords", {}) or {}).get("observer")
    return QuantSpecFacts(
        observer=observer if inner is None else f"{observer}({getattr(inner, '__name__', inner)})",
        dtype=str(spec.dtype).replace("torch.", ""),
        granularity="per-channel" if "per_channel" in scheme else "per-tensor",
        scheme="symmetric" if "symmetric" in scheme else "affine",
        range=(spec.quant_min, spec.quant_max),
    )


def describe_config(config: Any) -> tuple[QuantSpecFacts, QuantSpecFacts]:
    """(activations, weights) of the quantizer config, read from the config object itself."""
    return _describe_spec(config.input_activation), _describe_spec(config.weight)


def compiler(freezing: bool) -> str:
    return "inductor with freezing, at load" if freezing else "inductor without freezing, at load"


def save_converted(converted: Any, example: tuple[Any, ...], target: Path) -> list[str]:
    """Re-export the converted GraphModule (int8 weights folded) and save it; returns the names
    of the FP32 tensors left behind by conversion, which are dropped first."""
    dropped = _export.drop_unused_attributes(converted)
    converted.graph.eliminate_dead_code()
    converted.recompile()
    _export.export_and_save(converted, example, target)
    return dropped
