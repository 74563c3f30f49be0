"""Toolchain adapters behind one contract (``base``) and one registry (``registry``)."""

from __future__ import annotations

from quantarena.toolchains.base import (
    BuildFacts,
    BuildOutcome,
    Built,
    Needs,
    Recipe,
    RecipePayload,
    Session,
    Toolchain,
)
from quantarena.toolchains.registry import (
    DEFAULT_VARIANTS,
    all_variants,
    get_toolchain,
    parse_variant,
    recipe_from_payload,
    registered_toolchains,
)

__all__ = [
    "DEFAULT_VARIANTS",
    "BuildFacts",
    "BuildOutcome",
    "Built",
    "Needs",
    "Recipe",
    "RecipePayload",
    "Session",
    "Toolchain",
    "all_variants",
    "get_toolchain",
    "parse_variant",
    "recipe_from_payload",
    "registered_toolchains",
]
