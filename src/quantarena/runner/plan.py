"""Turn the config's variant list into validated, ordered steps before anything runs, so a typo
fails in the first second instead of after an hour of measuring."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from quantarena.config import RunConfig
from quantarena.errors import ConfigError
from quantarena.toolchains import Recipe, Toolchain, parse_variant

REFERENCE_PREFERENCE = ("pytorch:fp32", "onnxruntime:fp32", "openvino:fp32")


@dataclass(frozen=True)
class PlannedVariant:
    name: str
    toolchain: Toolchain
    recipe_name: str
    recipe: Recipe
    options: dict[str, Any]

    @property
    def slug(self) -> str:
        return variant_slug(self.name)


def variant_slug(name: str) -> str:
    """File-system-safe form of a variant name, for its folder and log files."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plan_variants(config: RunConfig) -> list[PlannedVariant]:
    unknown = set(config.recipes) - set(config.variants)
    if unknown:
        raise ConfigError(f"recipe options given for variants not in the run: {', '.join(sorted(unknown))}")
    planned = []
    for name in config.variants:
        toolchain, recipe_name = parse_variant(name)
        options = dict(config.recipes.get(name, {}))
        try:
            recipe = toolchain.parse_recipe(recipe_name, options)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"recipe of {name}: {problems}") from None
        planned.append(PlannedVariant(name, toolchain, recipe_name, recipe, options))
    return planned


def choose_reference(planned: list[PlannedVariant]) -> str | None:
    """The FP32 variant every accuracy change is measured against: PyTorch eager FP32 when it
    is in the run, else another FP32 variant, else none (then no deltas are reported)."""
    names = [p.name for p in planned]
    for preferred in REFERENCE_PREFERENCE:
        if preferred in names:
            return preferred
    return next((p.name for p in planned if p.recipe.precision == "fp32"), None)


def run_order(planned: list[PlannedVariant], reference: str | None) -> list[PlannedVariant]:
    """The reference runs first so every later row can be compared as soon as it is measured."""
    return sorted(planned, key=lambda p: p.name != reference)
