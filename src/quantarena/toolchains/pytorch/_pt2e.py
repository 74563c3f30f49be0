"""PT2E pieces shared by the PTQ and QAT builders: the x86 quantizer, its read-back description,
and turning a converted model into a compact ``.pt2`` artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantarena.toolchains.pytorch import _export
from quantarena.toolchains.pytorch.recipes import QuantSpecFacts

#: What runs the converted graph's quantized ops (a fact of every PT2E build).
KERNELS = "onednn (Inductor lowering)"


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
