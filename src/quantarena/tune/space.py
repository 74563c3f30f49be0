"""The typed search space a recipe declares: which of its knobs ``quantarena tune`` may move, and
over what range. Declared on the recipe class (``Recipe.search_space``), next to the knobs
themselves, so a new knob and its range are reviewed together, and the tuner never asks which
toolchain it holds.

Two shapes cover the INT8 knobs published comparisons leave undisclosed: a ``Choice`` among
listed values (calibration method, per-channel, symmetric activations, the CPU's saturation
remedy, bias correction) and a ``Count`` (calibration images, QAT steps) searched on a log scale,
whose upper end may be the calibration split itself. Imports nothing heavy: recipe modules import
it, and ``quantarena list`` loads every recipe module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

#: a value a ``Choice`` may take (what Optuna's categorical distribution can store)
ChoiceValue = str | bool | int | None


@dataclass(frozen=True)
class Choice:
    """One knob, one of ``options``; the recipe's default must be among them, so the plain
    recipe is a point of the space (the tuner measures it first)."""

    knob: str
    options: tuple[ChoiceValue, ...]

    def distribution(self, calibration_images: int) -> BaseDistribution:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.options)

    def plain(self, default: Any, calibration_images: int) -> Any:
        """The recipe default as a point of this range."""
        return default


@dataclass(frozen=True)
class Count:
    """An integer knob in ``[low, high]`` on a log scale (each doubling weighs the same: 16 to 32
    calibration images matters as much as 100 to 200). ``high=None``: the calibration split's
    size, for knobs that count calibration images; their default ``None`` (the whole split) is
    then ``high`` itself."""

    knob: str
    low: int
    high: int | None = None

    def bounds(self, calibration_images: int) -> tuple[int, int]:
        high = calibration_images if self.high is None else self.high
        return min(self.low, high), high

    def distribution(self, calibration_images: int) -> BaseDistribution:
        from optuna.distributions import IntDistribution

        low, high = self.bounds(calibration_images)
        return IntDistribution(low, high, log=True)

    def plain(self, default: Any, calibration_images: int) -> Any:
        low, high = self.bounds(calibration_images)
        return high if default is None else min(max(int(default), low), high)


Knob = Choice | Count

#: the saturation-remedy values every toolchain's ``auto`` knob takes: the per-CPU decision, or
#: either side of it forced
REMEDY_OPTIONS: tuple[ChoiceValue, ...] = ("auto", False, True)


def distributions(space: tuple[Knob, ...], calibration_images: int) -> dict[str, Any]:
    """Knob name -> Optuna distribution, for a calibration split of ``calibration_images``."""
    return {k.knob: k.distribution(calibration_images) for k in space}


def plain_point(
    space: tuple[Knob, ...], defaults: dict[str, Any], calibration_images: int
) -> dict[str, Any]:
    """The recipe's own defaults as a point of its space: the first trial of every search, so
    the tuned result is always compared with what the user would get by asking nothing."""
    return {k.knob: k.plain(defaults[k.knob], calibration_images) for k in space}
