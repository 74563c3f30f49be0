from __future__ import annotations

from pathlib import Path

import pytest

from quantarena.config import RunConfig, load_config, usable_cpus
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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"input_size": 0}, "input_size"),
        ({"std": [0.2, 0.0, 0.2]}, "std: every std must be > 0"),
        ({"input_size": 224, "resize": 200}, "resize (200) must be >= input_size (224)"),
        ({"measure": {"latency_target_ci": 1.0}}, "latency_target_ci"),
        (
            {"measure": {"throughput_min_seconds": 5, "throughput_max_seconds": 2}},
            "throughput_max_seconds must be >= throughput_min_seconds",
        ),
        ({"measure": {"throughput_batches": [8, 8]}}, "batch size is listed twice"),
        ({"measure": {"latency_min_iterations": 0}}, "latency_min_iterations"),
        ({"measure": {"rounds_target_ci": 0}}, "measure.rounds_target_ci: Input should be"),
        ({"measure": {"rounds_max": 1}}, "measure.rounds_max: Input should be greater"),
        ({"measure": {"rounds_window_calls": 0}}, "measure.rounds_window_calls"),
        ({"measure": {"interleave": "sometimes"}}, "measure.interleave: Input should be"),
        (
            {"measure": {"rounds_window_seconds": 5, "rounds_max_seconds": 2}},
            "rounds_window_seconds must be <= rounds_max_seconds",
        ),
    ],
)
def test_values_out_of_their_range_are_config_errors(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, overrides)
    assert message in str(caught.value)
    assert "Value error," not in str(caught.value)  # pydantic's prefix is dropped


def test_default_threads_are_the_usable_cpus() -> None:
    assert RunConfig().threads == len(usable_cpus())
    assert RunConfig().warnings() == []


@pytest.mark.parametrize(
    "text",
    ["measure: 5\n", "recipes: [a, b]\n", "recipes:\n  onnxruntime:int8: 3\n"],
)
def test_yaml_sections_that_are_not_mappings_are_config_errors(text: str, tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(path, {})


def test_unreadable_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path, {})  # a folder
    binary = tmp_path / "exp.yaml"
    binary.write_bytes(bytes(range(128, 256)))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(binary, {})


def test_interleaving_is_on_by_default_and_a_flag_turns_it_off() -> None:
    measure = RunConfig().measure
    assert measure.interleave and measure.rounds_target_ci == 0.03
    assert not load_config(None, {"measure": {"interleave": "false"}}).measure.interleave


def test_device_cuda_changes_only_the_defaults(tmp_path: Path) -> None:
    """``--device cuda`` picks the GPU variants (with the CPU FP32 module kept as the accuracy
    reference) and batches 1 and 64; variants or batches the user set stay as set."""
    from quantarena.toolchains.registry import DEFAULT_GPU_VARIANTS

    gpu = load_config(None, {"device": "cuda", "measure": {}})
    assert gpu.device == "cuda"
    assert gpu.variants == DEFAULT_GPU_VARIANTS and gpu.variants[0] == "pytorch:fp32"
    assert all(v.split(":")[0] != "openvino" for v in gpu.variants)
    assert gpu.measure.throughput_batches == [1, 64]
    chosen = load_config(None, {"device": "cuda", "variants": ["pytorch-cuda:fp16"],
                                "measure": {"throughput_batches": [8]}})
    assert chosen.variants == ["pytorch-cuda:fp16"] and chosen.measure.throughput_batches == [8]
    config = tmp_path / "gpu.yaml"
    config.write_text("device: cuda\nmeasure:\n  eval_batch: 16\n")
    from_file = load_config(config, {})
    assert from_file.measure.throughput_batches == [1, 64] and from_file.measure.eval_batch == 16
    assert load_config(None, {}).device == "cpu"
    with pytest.raises(ConfigError, match="device: Input should be 'cpu' or 'cuda'"):
        load_config(None, {"device": "tpu"})


def test_every_default_gpu_variant_is_registered() -> None:
    from quantarena.toolchains.registry import DEFAULT_GPU_VARIANTS, parse_variant

    for variant in DEFAULT_GPU_VARIANTS:
        toolchain, recipe = parse_variant(variant)
        assert recipe in toolchain.recipes, variant
