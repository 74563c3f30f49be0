"""Where the time went: steps in the order they began, their parts summed, readable clocks."""

from __future__ import annotations

import pytest

from quantarena.runner.timeline import Timeline


def test_parts_add_up_per_step_in_order() -> None:
    timeline = Timeline()
    timeline.add("prepare", "model", 3.0)
    timeline.add("a:fp32", "build", 2.0)
    timeline.add("a:fp32", "measure", 30.0)
    timeline.add("a:fp32", "measure", 5.0)  # a repeat adds up
    with pytest.raises(RuntimeError), timeline.part("rounds", "load"):
        raise RuntimeError("a part that raises is still counted")
    lines = timeline.lines()
    assert lines[0].startswith("where the time went (")
    assert lines[1].split() == ["prepare", "3.0", "s", "(model", "3.0", "s)"]
    assert "37 s" in lines[2] and "build 2.0 s, measure 35 s" in lines[2]
    assert lines[3].split()[0] == "rounds"

