"""Turn the config's variant list into validated, ordered steps before anything runs, so a typo
fails in the first second instead of after an hour of measuring. The reference and each variant's
speedup baseline come from the recipes' and toolchains' declarations, never from names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from quantarena.config import RunConfig
from quantarena.errors import ConfigError
from quantarena.toolchains import Recipe, Toolchain, parse_variant


@dataclass(frozen=True)
class PlannedVariant:
    name: str
    toolchain: Toolchain
    recipe_name: str
    recipe: Recipe

    @property
    def slug(self) -> str:
        return variant_slug(self.name)


def variant_slug(name: str) -> str:
    """File-system-safe form of a variant name, for its folder and log files."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plan_variants(config: RunConfig) -> list[PlannedVariant]:
    unknown = set(config.recipes) - set(config.variants)
    if unknown:
        raise ConfigError(
            f"recipe options given for variants not in the run: {', '.join(sorted(unknown))}"
        )
    planned = []
    for name in config.variants:
        toolchain, recipe_name = parse_variant(name)
        try:
            recipe = toolchain.parse_recipe(recipe_name, dict(config.recipes.get(name, {})))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"recipe of {name}: {problems}") from None
        planned.append(PlannedVariant(name, toolchain, recipe_name, recipe))
    return planned


def choose_reference(planned: list[PlannedVariant]) -> str | None:
    """The FP32 variant every accuracy change is measured against: the one whose recipe declares
    the lowest ``reference_rank`` (eager PyTorch FP32 first), else none (then no deltas)."""
    ranked = [
        (p.recipe.reference_rank, index, p.name)
        for index, p in enumerate(planned)
        if p.recipe.reference_rank is not None
    ]
    return min(ranked)[2] if ranked else None


def baseline_of(p: PlannedVariant, planned: list[PlannedVariant]) -> str | None:
    """The variant of the same toolchain that ``p``'s speedup is measured against, when its
    declared baseline recipe is in the run."""
    wanted = p.toolchain.baseline_recipe
    return next(
        (q.name for q in planned if q.toolchain is p.toolchain and q.recipe_name == wanted), None
    )


def run_order(planned: list[PlannedVariant], reference: str | None) -> list[PlannedVariant]:
    """The reference runs first so every later row can be compared as soon as it is measured."""
    return sorted(planned, key=lambda p: p.name != reference)
