"""What ``quantarena tune --study calibration`` measures: the grid of (calibration method,
calibration image count) points of each recipe, read from the space the recipe declares, so the
study covers exactly the knobs the search may move and nothing is listed twice.

Published INT8 comparisons rarely disclose how they calibrated, and the method and image count
are what decide INT8 accuracy; this grid is the disclosure. Everything here is checked before
any model is prepared, so a bad count or variant is one line, not a failure minutes in.
Imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quantarena.errors import ConfigError
from quantarena.toolchains import Recipe, parse_variant
from quantarena.tune.space import Choice, Count

#: the studies ``--study`` knows
STUDIES = ("calibration",)

#: the counts studied by default (those that fit the calibration split, then the whole split)
DEFAULT_COUNTS = (8, 32, 128)

#: the knob whose declared options are the methods studied
METHOD_KNOB = "calibration_method"

#: the cost of a point of a recipe that declares none (``Recipe.study_cost_s``)
UNKNOWN_COST = (20.0, 0.05)


@dataclass(frozen=True)
class StudySettings:
    """``--study`` and its options."""

    name: str
    #: ``None``: ``DEFAULT_COUNTS`` that fit the calibration split, and the whole split
    counts: tuple[int, ...] | None = None
    #: ``--max-drop`` when given explicitly: drawn as the budget line, nothing is chosen by it
    budget_pp: float | None = None


@dataclass(frozen=True)
class GridPoint:
    """One build to measure: ``variant`` with ``params`` (the method and count knobs)."""

    variant: str
    method: str
    images: int
    params: dict[str, Any]

    @property
    def folder(self) -> str:
        """Its folder under the run, named by the knobs' values."""
        from quantarena.runner.plan import variant_slug

        knob = str(self.params.get(METHOD_KNOB, "default"))
        return f"study/calibration/{variant_slug(self.variant)}/{knob}-{self.images:04d}"


def parse_study(name: str | None, counts: str | None, budget_pp: float | None
                ) -> StudySettings | None:
    """``--study NAME --study-counts A,B`` as settings, or one line naming what is accepted."""
    if name is None:
        if counts is not None:
            raise ConfigError("--study-counts needs --study calibration")
        return None
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}: --study takes {', '.join(STUDIES)}")
    if counts is None:
        return StudySettings(name, None, budget_pp)
    try:
        parsed = tuple(int(part) for part in counts.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--study-counts {counts!r} must be whole numbers of calibration "
                          "images, e.g. 8,32,128,200") from None
    if not parsed or len(set(parsed)) != len(parsed) or min(parsed) < 1:
        raise ConfigError(f"--study-counts {counts!r} must list each count once, each >= 1")
    return StudySettings(name, tuple(sorted(parsed)), budget_pp)


def calibration_knobs(cls: type[Recipe]) -> tuple[Choice | None, Count | None]:
    """The recipe's declared method choice (if any) and its calibration-image count: the
    ``Count`` bounded by the calibration split (``high=None``), not e.g. QAT's step count."""
    space = cls.search_space
    method = next((k for k in space if isinstance(k, Choice) and k.knob == METHOD_KNOB), None)
    count = next((k for k in space if isinstance(k, Count) and k.high is None), None)
    return method, count


def study_counts(settings: StudySettings, calibration_images: int) -> tuple[int, ...]:
    """The counts studied on a calibration split of ``calibration_images``; asked counts that
    do not fit it are refused rather than silently capped (the chart would repeat a point)."""
    if settings.counts is None:
        fitting = [c for c in DEFAULT_COUNTS if c < calibration_images]
        return (*fitting, calibration_images)
    too_many = [c for c in settings.counts if c > calibration_images]
    if too_many:
        raise ConfigError(
            f"--study-counts {','.join(map(str, too_many))}: more images than the calibration "
            f"split's {calibration_images}; pass counts up to {calibration_images}, or a larger "
            "--calibration-images")
    return settings.counts


def study_grid(settings: StudySettings, variants: list[str], calibration_images: int
               ) -> list[GridPoint]:
    """Every point of the study, per variant, method and count (ascending), in that order."""
    counts = study_counts(settings, calibration_images)
    grid = []
    for variant in variants:
        toolchain, name = parse_variant(variant)
        method, count = calibration_knobs(toolchain.recipes[name])
        if count is None:
            raise ConfigError(f"{variant} declares no calibration-image count to study: "
                              f"{studiable_hint()}")
        methods: list[tuple[str, dict[str, Any]]] = (
            [(str(v), {method.knob: v}) for v in method.options] if method is not None
            else [(_recipe_class(variant).default_calibrator, {})])
        for label, chosen in methods:
            for images in counts:
                grid.append(GridPoint(variant, label, images, {**chosen, count.knob: images}))
    return grid


def studiable_hint() -> str:
    from quantarena.toolchains.registry import registered_toolchains

    names = [f"{t.name}:{n}" for t in registered_toolchains() for n, c in t.recipes.items()
             if calibration_knobs(c)[1] is not None]
    return "the calibration study can run " + ", ".join(names)


def _recipe_class(variant: str) -> type[Recipe]:
    toolchain, name = parse_variant(variant)
    return toolchain.recipes[name]


def point_seconds(variant: str, params: dict[str, Any], images: int) -> float:
    """The expected seconds of one point, from the recipe's ``study_cost_s``."""
    method = params.get(METHOD_KNOB)
    fixed, per_image = _recipe_class(variant).study_cost_s.get(method, UNKNOWN_COST)
    return fixed + per_image * images


def estimate_seconds(pending: list[GridPoint], scale: dict[str, float]) -> float:
    """Seconds the pending points should take: ``point_seconds``, times the variant's ``scale``
    (measured over expected seconds of its points measured before; 1 without any)."""
    return sum(point_seconds(p.variant, p.params, p.images) * scale.get(p.variant, 1.0)
               for p in pending)


def plan_line(grid: list[GridPoint], pending: list[GridPoint], seconds: float) -> str:
    """What the study will do and about how long, said before it starts."""
    per_variant = ", ".join(f"{v} {sum(1 for p in grid if p.variant == v)}"
                            for v in dict.fromkeys(p.variant for p in grid))
    counts = sorted({p.images for p in grid})
    done = len(grid) - len(pending)
    kept = f", {done} kept from an earlier attempt" if done else ""
    return (f"calibration study: {len(grid)} points ({per_variant}) at "
            f"{', '.join(map(str, counts))} calibration images{kept}; about "
            f"{_minutes(seconds)} for the {len(pending)} to measure (scored on the validation "
            "split; the evaluation split is not read)")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
