from __future__ import annotations

from pathlib import Path

import pytest

from quantarena.config import RunConfig, load_config
from quantarena.errors import ConfigError
from quantarena.toolchains.registry import DEFAULT_VARIANTS


def test_defaults_are_the_demo() -> None:
    config = RunConfig()
    assert config.model == "mobilenet_v2"
    assert config.variants == DEFAULT_VARIANTS
    assert config.measure.throughput_batches == [1, 32]


def test_yaml_then_flags_override(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("model: resnet18\nthreads: 1\nmeasure:\n  eval_batch: 8\n")
    config = load_config(path, {"threads": "2", "measure": {"latency_min_seconds": "0.5"}})
    assert (config.model, config.threads) == ("resnet18", 2)
    assert config.measure.eval_batch == 8 and config.measure.latency_min_seconds == 0.5


def test_unknown_key_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("modle: resnet18\n")
    with pytest.raises(ConfigError, match="modle"):
        load_config(path, {})


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ConfigError, match="threads"):
        load_config(None, {"threads": 0})
    with pytest.raises(ConfigError, match="listed twice"):
        load_config(None, {"variants": ["onnxruntime:fp32", "onnxruntime:fp32"]})


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(Path("/nonexistent/exp.yaml"), {})


def test_resolved_names_the_output_folder() -> None:
    resolved = RunConfig(model="resnet50").resolved()
    assert resolved.out is not None and resolved.out.name.startswith("resnet50-")
    assert "~" not in str(resolved.cache_dir)


def test_recipe_flags_merge_into_the_files_recipes(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "recipes:\n  onnxruntime:int8: {calibration_method: entropy, per_channel: false}\n"
    )
    config = load_config(path, {"recipes": {"onnxruntime:int8": {"calibration_method": "minmax"}}})
    assert config.recipes == {
        "onnxruntime:int8": {"calibration_method": "minmax", "per_channel": False}
    }
