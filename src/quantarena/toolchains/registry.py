"""The toolchain registry: one line per toolchain, adapters imported on first use, so
``import quantarena`` imports no runtime (adapter modules import their runtimes lazily).

Toolchains outside this package register the same way through the ``quantarena.toolchains`` entry
point group (``name = "package.module:AdapterClass"``), so a plug-in needs no change here.
"""

from __future__ import annotations

import difflib
import importlib
from functools import cache
from importlib.metadata import entry_points

from quantarena.errors import ConfigError
from quantarena.toolchains.base import Recipe, RecipePayload, Toolchain

ENTRY_POINT_GROUP = "quantarena.toolchains"

BUILTIN: dict[str, str] = {
    "pytorch": "quantarena.toolchains.pytorch.toolchain:PyTorchToolchain",
    "onnxruntime": "quantarena.toolchains.onnxruntime.toolchain:OnnxRuntimeToolchain",
    "openvino": "quantarena.toolchains.openvino.toolchain:OpenVinoToolchain",
    "tensorrt": "quantarena.toolchains.tensorrt.toolchain:TensorRtToolchain",
    "pytorch-cuda": "quantarena.toolchains.pytorch_cuda.toolchain:PyTorchCudaToolchain",
}

#: One FP32 and one INT8 variant per CPU toolchain, plus TensorRT's INT8 graph checked on the CPU:
#: the whole comparison in a few minutes on two cores.
DEFAULT_VARIANTS = [
    "pytorch:fp32",
    "pytorch:int8-pt2e",
    "onnxruntime:fp32",
    "onnxruntime:int8",
    "openvino:fp32",
    "openvino:int8",
    "tensorrt:int8-simulated",
]

#: ``--device cuda``: every GPU variant, with the CPU FP32 module as the accuracy reference (each
#: GPU row's top-1 is compared with it image by image).
DEFAULT_GPU_VARIANTS = [
    "pytorch:fp32",
    "pytorch-cuda:fp32",
    "pytorch-cuda:tf32",
    "pytorch-cuda:fp16",
    "pytorch-cuda:bf16",
    "pytorch-cuda:fp16-autocast",
    "pytorch-cuda:bf16-autocast",
    "pytorch-cuda:fp16-compiled",
    "pytorch-cuda:int8-weight-only",
    "pytorch-cuda:int8-dynamic",
    "onnxruntime:cuda-fp32",
    "onnxruntime:cuda-fp16",
    "onnxruntime:tensorrt-fp16",
    "onnxruntime:tensorrt-int8",
    "tensorrt:fp16",
    "tensorrt:int8",
]

#: The INT8 recipes ``quantarena tune`` searches by default: one per CPU toolchain, plus TensorRT's
#: Q/DQ graph checked on the CPU (accuracy only).
DEFAULT_TUNE_VARIANTS = [
    "onnxruntime:int8",
    "openvino:int8",
    "pytorch:int8-pt2e",
    "tensorrt:int8-simulated",
]


@cache
def toolchain_paths() -> dict[str, str]:
    """Toolchain name -> "module:Class": the built-in ones, then installed plug-ins."""
    paths = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        paths.setdefault(entry.name, entry.value)
    return paths


@cache
def get_toolchain(name: str) -> Toolchain:
    paths = toolchain_paths()
    if name not in paths:
        close = difflib.get_close_matches(name, list(paths), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown toolchain {name!r}{hint}; known: {', '.join(paths)}")
    module_name, class_name = paths[name].split(":")
    try:
        adapter = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"toolchain {name!r} is not part of this installation ({exc})") from None
    toolchain: Toolchain = adapter()
    return toolchain


def registered_toolchains() -> list[Toolchain]:
    """Every toolchain whose adapter module imports in this installation."""
    found = []
    for name in toolchain_paths():
        try:
            found.append(get_toolchain(name))
        except ConfigError:
            continue
    return found


def all_variants() -> list[str]:
    return [f"{t.name}:{r}" for t in registered_toolchains() for r in t.recipes]


def parse_variant(variant: str) -> tuple[Toolchain, str]:
    """``"onnxruntime:int8"`` -> (toolchain, "int8"), or a ``ConfigError`` listing the options."""
    if variant.count(":") != 1:
        raise ConfigError(
            f"variant {variant!r} must look like TOOLCHAIN:RECIPE, e.g. onnxruntime:int8"
        )
    toolchain_name, recipe = variant.split(":")
    toolchain = get_toolchain(toolchain_name)
    if recipe not in toolchain.recipes:
        options = ", ".join(f"{toolchain.name}:{r}" for r in toolchain.recipes)
        raise ConfigError(f"unknown variant {variant!r}; {toolchain.name} offers: {options}")
    return toolchain, recipe


def recipe_from_payload(payload: RecipePayload) -> tuple[Toolchain, Recipe]:
    """The typed recipe a payload names. Only the variant's registered recipe class is accepted
    (an allow-list: a payload never names a class to import), at the version this build has."""
    toolchain, name = parse_variant(payload.variant)
    cls = toolchain.recipes[name]
    if payload.type != cls.__name__:
        raise ConfigError(
            f"{payload.variant}: recipe type {payload.type!r} is not {cls.__name__!r}"
        )
    if payload.version != cls.version:
        raise ConfigError(
            f"{payload.variant}: recipe version {payload.version} was written by another "
            "quantarena; "
            f"this one reads version {cls.version}"
        )
    return toolchain, cls(**payload.knobs)
