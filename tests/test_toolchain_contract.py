"""What every registered toolchain must honour, checked once for all of them (a new toolchain is
covered by registering it): each recipe has its own typed facts that never shadow a knob, and a
recipe of another toolchain is refused by build and by load with a line naming the toolchain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quantarena.data.cache import ImageArray
from quantarena.errors import ModelError
from quantarena.models.spec import ModelBundle
from quantarena.toolchains import BuildFacts, Recipe, Toolchain, registered_toolchains

TOOLCHAINS = registered_toolchains()


@pytest.mark.parametrize("toolchain", TOOLCHAINS, ids=lambda t: t.name)
def test_each_recipe_has_its_own_facts_and_no_fact_shadows_a_knob(toolchain: Toolchain) -> None:
    """Recipe and facts are stored side by side: a fact named like a knob would read as if the
    user had asked for it (the old ``calibration_images`` bug)."""
    recipes = list(toolchain.recipes.values())
    facts = [cls.Facts for cls in recipes]
    assert len(set(facts)) == len(facts), toolchain.name
    for cls in recipes:
        assert cls.Facts is not BuildFacts and issubclass(cls.Facts, BuildFacts), cls.__name__
        shared = set(cls.Facts.model_fields) & set(cls.model_fields)
        assert not shared, f"{cls.__name__}: facts {sorted(shared)} shadow knobs"


@pytest.mark.parametrize("toolchain", TOOLCHAINS, ids=lambda t: t.name)
def test_a_recipe_of_another_toolchain_is_refused(
    toolchain: Toolchain, mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    class Stranger(Recipe):
        """A recipe no toolchain registered."""

    title = re.escape(toolchain.title)  # "PyTorch (CUDA)"
    with pytest.raises(TypeError, match=f"no {title} builder for Stranger"):
        toolchain.build(mv2_bundle, Stranger(), calibration_images, tmp_path)
    with pytest.raises(ModelError, match=f"^{title} cannot load model.bin: "):
        toolchain.load(tmp_path / "model.bin", Stranger(), 1)
