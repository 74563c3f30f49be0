"""The ``scenarios`` section: off by default, a YAML list or mapping, flags merged over the file,
bad values refused in one line with the config exit code, and the worker's time allowance."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import quantarena
from quantarena.config import RunConfig, load_config
from quantarena.errors import ConfigError
from quantarena.runner.launcher import Launcher
from quantarena.serving.config import ScenarioConfig


def test_scenarios_are_off_by_default() -> None:
    config = RunConfig()
    assert not config.scenarios.enabled and config.scenarios.scenarios == []
    assert config.scenarios.modes == ["compute", "end-to-end"]
    assert config.scenarios.latency_bound_ms == 15.0 and not config.scenarios.mlperf_official


def test_yaml_list_shorthand_and_mapping(tmp_path: Path) -> None:
    short = tmp_path / "short.yaml"
    short.write_text("scenarios: [server, single-stream]\n")
    config = load_config(short, {})
    assert config.scenarios.scenarios == ["server", "single-stream"]
    assert config.scenarios.ordered() == ["single-stream", "server"]
    full = tmp_path / "full.yaml"
    full.write_text("scenarios:\n  scenarios: [offline]\n  server_max_batch: 4\n")
    # a flag changes one knob, the file's others stay
    merged = load_config(full, {"scenarios": {"latency_bound_ms": "10"}})
    assert merged.scenarios.scenarios == ["offline"]
    assert merged.scenarios.server_max_batch == 4 and merged.scenarios.latency_bound_ms == 10.0
    assert merged.scenarios.server_idle == "sleep"  # the default: the core may go idle
    spun = load_config(full, {"scenarios": {"server_idle": "spin"}})
    assert spun.scenarios.server_idle == "spin"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scenarios": ["server", "server"]}, "a scenario is listed twice"),
        ({"scenarios": ["offline"], "modes": []}, "at least one mode"),
        ({"latency_bound_ms": 0}, "scenarios.latency_bound_ms"),
        ({"scenarios": ["batch"]}, "scenarios.scenarios"),
        ({"server_idle": "nap"}, "scenarios.server_idle"),
    ],
)
def test_bad_values_are_one_config_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, {"scenarios": overrides})


def test_the_cli_refuses_an_unknown_scenario_in_one_line(tmp_path: Path) -> None:
    done = quantarena("run", "--scenarios", "single-stream,burst", "--out", str(tmp_path / "o"))
    assert done.returncode == ConfigError.exit_code
    assert done.stderr.count("\n") == 1 and "scenarios.scenarios" in done.stderr
    assert "Traceback" not in done.stderr


def test_measuring_workers_get_the_scenarios_time(tmp_path: Path) -> None:
    plain = RunConfig()
    serving = RunConfig(scenarios=ScenarioConfig(scenarios=["server"]))
    official = RunConfig(scenarios=ScenarioConfig(scenarios=["server"], mlperf_official=True))
    timeouts = [Launcher.from_config(c, tmp_path).measure_timeout
                for c in (plain, serving, official)]
    assert timeouts[0] == plain.measure_timeout < timeouts[1] < timeouts[2]
    # MLPerf's 600 s per run: the search's six Server runs need an hour per mode
    assert timeouts[2] - plain.measure_timeout > 2 * 6 * 600
