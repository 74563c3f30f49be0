"""PT2E pieces shared by the PTQ and QAT handlers: the x86 quantizer, its read-back description,
and turning a converted model into a compact ``.pt2`` artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Availability
from quantarena.toolchains.pytorch import _inductor

#: Architecture prefixes the x86 quantizer cannot annotate. torchvision's ResNet blocks add the
#: shortcut in place (``out += identity``); with torch 2.14 / torchao 0.18 ``prepare_pt2e`` then
#: stops with "Input partition has more than one output node".
UNSUPPORTED_PREFIXES = ("resnet", "resnext", "wide_resnet")


def supports(bundle: ModelBundle) -> Availability:
    arch = bundle.torch_arch or ""
    if arch.startswith(UNSUPPORTED_PREFIXES):
        return Availability.no(
            f"torchao's X86InductorQuantizer cannot annotate {arch}'s in-place residual add "
            "(prepare_pt2e: 'Input partition has more than one output node'); "
            "use pytorch:int8-fx or pytorch:int8-eager"
        )
    return Availability.yes()


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


def _describe_spec(spec: Any) -> dict[str, Any]:
    ctor = spec.observer_or_fake_quant_ctr
    partial = getattr(ctor, "p", None)
    func = getattr(partial, "func", ctor)
    scheme = str(spec.qscheme)
    observer = getattr(func, "__name__", type(func).__name__)
    inner = (getattr(partial, "keywords", {}) or {}).get("observer")
    return {
        "observer": observer if inner is None else f"{observer}({getattr(inner, '__name__', inner)})",
        "dtype": str(spec.dtype).replace("torch.", ""),
        "granularity": "per-channel" if "per_channel" in scheme else "per-tensor",
        "scheme": "symmetric" if "symmetric" in scheme else "affine",
        "range": [spec.quant_min, spec.quant_max],
    }


def describe_config(config: Any) -> dict[str, Any]:
    """What the quantizer config does, read from the config object itself."""
    return {"activations": _describe_spec(config.input_activation), "weights": _describe_spec(config.weight)}


def save_converted(converted: Any, example: tuple[Any, ...], target: Path) -> list[str]:
    """Re-export the converted GraphModule (int8 weights folded) and save it; returns the names
    of the FP32 tensors left behind by conversion, which are dropped first."""
    dropped = _inductor.drop_unused_attributes(converted)
    converted.graph.eliminate_dead_code()
    converted.recompile()
    _inductor.export_and_save(converted, example, target)
    return dropped
