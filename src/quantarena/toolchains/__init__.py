"""The toolchain registry. Adapters are named here as import strings and loaded on first use, so
``import quantarena`` imports no runtime; adapter modules themselves import runtimes lazily."""

from __future__ import annotations

import difflib
import importlib
from functools import cache

from quantarena.errors import ConfigError
from quantarena.toolchains.base import Availability, BuildResult, Recipe, Session, Toolchain

__all__ = [
    "Availability", "BuildResult", "Recipe", "Session", "Toolchain",
    "TOOLCHAINS", "get_toolchain", "parse_variant", "all_variants",
]

TOOLCHAINS: dict[str, str] = {
    "pytorch": "quantarena.toolchains.pytorch:PyTorchToolchain",
    "onnxruntime": "quantarena.toolchains.onnxruntime:OnnxRuntimeToolchain",
    "openvino": "quantarena.toolchains.openvino:OpenVinoToolchain",
    "tensorrt": "quantarena.toolchains.tensorrt:TensorRtToolchain",
}


@cache
def get_toolchain(name: str) -> Toolchain:
    if name not in TOOLCHAINS:
        close = difflib.get_close_matches(name, list(TOOLCHAINS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown toolchain {name!r}{hint}; known: {', '.join(TOOLCHAINS)}")
    module_name, class_name = TOOLCHAINS[name].split(":")
    toolchain: Toolchain = getattr(importlib.import_module(module_name), class_name)()
    return toolchain


def registered_toolchains() -> list[Toolchain]:
    """Every toolchain whose adapter module exists in this installation."""
    found = []
    for name in TOOLCHAINS:
        try:
            found.append(get_toolchain(name))
        except ModuleNotFoundError:
            continue
    return found


def all_variants() -> list[str]:
    return [f"{t.name}:{r}" for t in registered_toolchains() for r in t.recipes]


def parse_variant(variant: str) -> tuple[Toolchain, str]:
    """``"onnxruntime:int8"`` -> (toolchain, "int8"), or a ``ConfigError`` that lists the options."""
    if variant.count(":") != 1:
        raise ConfigError(f"variant {variant!r} must look like TOOLCHAIN:RECIPE, e.g. onnxruntime:int8")
    toolchain_name, recipe = variant.split(":")
    try:
        toolchain = get_toolchain(toolchain_name)
    except ModuleNotFoundError:
        raise ConfigError(f"toolchain {toolchain_name!r} is not part of this installation") from None
    if recipe not in toolchain.recipes:
        options = ", ".join(f"{toolchain.name}:{r}" for r in toolchain.recipes)
        raise ConfigError(f"unknown variant {variant!r}; {toolchain.name} offers: {options}")
    return toolchain, recipe
