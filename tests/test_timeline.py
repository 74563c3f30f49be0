"""Where the time went: steps in the order they began, their parts summed, readable clocks; and
which timing passes ran to their time caps, with the option that sets each."""

from __future__ import annotations

import pytest

from quantarena.config import MeasureConfig
from quantarena.results.measurements import Latency, Throughput
from quantarena.results.schema import VariantResult
from quantarena.runner.timeline import Timeline, capped_passes


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



def _row(name: str, latency_stop: str | None, batch32_stop: str = "ci_target") -> VariantResult:
    def calls(batch: int, stop: str) -> Latency:
        return Latency.from_samples([0.010, 0.011, 0.012] * 20, batch=batch, seconds=0.66,
                                    stop_reason=stop, warmup_iterations=3, warmup_stable=True)

    latency = calls(1, latency_stop) if latency_stop is not None else None
    throughput = [] if latency is None else [Throughput.from_latency(latency),
                                             Throughput.from_latency(calls(32, batch32_stop))]
    return VariantResult(name=name, toolchain=name.split(":")[0], precision="fp32", status="ok",
                         latency_ms=latency, throughput=throughput)


def test_the_passes_at_their_time_caps_are_named_with_the_option_that_sets_each() -> None:
    measure = MeasureConfig(latency_max_seconds=20, throughput_max_seconds=15,
                            rounds_max_seconds=60)
    rows = [_row("a:fp32", "time_cap", "time_cap"), _row("b:int8", "ci_target", "time_cap"),
            _row("c:int8", "ci_target"), _row("d:int8-simulated", None)]
    [line] = capped_passes(rows, "time_cap", measure)
    assert line == ("  at their time caps: batch-1 latency pass of 1 of 3 variants "
                    "(--latency-max-seconds 20); batch-32 pass of 2 of 3 "
                    "(--throughput-max-seconds 15); the interleaved rounds "
                    "(--rounds-max-seconds 60)")
    # batch 1's throughput is the latency pass's: it is not counted twice
    assert "batch-1 pass" not in line
    assert capped_passes(rows[2:], "converged", measure) == []
    [rounds_only] = capped_passes(rows[2:], "time_cap", measure)
    assert rounds_only.endswith("the interleaved rounds (--rounds-max-seconds 60)")
