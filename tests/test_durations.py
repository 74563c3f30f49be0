"""Durations read as a person says them, in every message that names one."""

from __future__ import annotations

from quantarena.durations import spoken


def test_durations_read_as_a_person_says_them() -> None:
    assert spoken(0.44) == "0.4 s" and spoken(12.4) == "12 s"
    assert spoken(120) == "2 min" and spoken(278) == "4 min 38 s"
