"""Per-layer sensitivity and mixed-precision fallback: ONNX Runtime's ``nodes_to_exclude`` and
NNCF's ``ignored_scope`` keep the named layers in FP32 for real (no Q/DQ or FakeQuantize on their
weights) and a name not in the graph is one clear error (PyTorch's ``fp32_modules``: see the FX and
PT2E toolchain tests); the sensitivity worker ranks layers from real one-layer-in-FP32 builds, of
ONNX Runtime and of both PyTorch flows; fallback points double the layers kept, from the closest
trial's knobs, only when nothing passes."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from quantarena.config import RunConfig
from quantarena.data.cache import ImageArray, cache_split
from quantarena.data.dataset import discover
from quantarena.errors import ConfigError
from quantarena.models.spec import ModelBundle
from quantarena.toolchains import get_toolchain, parse_variant
from quantarena.toolchains.onnxruntime.recipes import OrtStaticInt8
from quantarena.tune.fallback import fallback_points, needs_fallback
from quantarena.tune.sensitivity import SensitivityJob, measure_sensitivity
from quantarena.tune.splits import split_three
from quantarena.tune.trials import Score, Trial
from toolchain_checks import build_and_load


def _trial(variant: str, number: int, drop: float) -> Trial:
    score = Score(images=40, top1=0.7, drop_pp=drop, drop_ci95_pp=[drop - 1, drop + 1],
                  mcnemar_p=1.0, latency_p50_ms=1.0, latency_p50_ci95_ms=[0.9, 1.1])
    return Trial(variant=variant, number=number, params={"calibration_method": "minmax"},
                 status="ok", folder="t", seconds=1.0, validation=score)


def test_fallback_only_when_nothing_passes_and_layers_can_be_kept() -> None:
    trials = [_trial("onnxruntime:int8", 0, 1.2), _trial("onnxruntime:int8", 1, 0.8)]
    base = needs_fallback("onnxruntime:int8", trials, 0.5)
    assert base is not None and base.number == 1  # the closest trial
    assert needs_fallback("onnxruntime:int8", trials, 1.0) is None  # one passes
    assert needs_fallback("pytorch:int8-qat", [_trial("pytorch:int8-qat", 0, 3.0)], 0.5) is None
    for variant in ("openvino:int8", "pytorch:int8-fx", "pytorch:int8-pt2e"):
        assert needs_fallback(variant, [_trial(variant, 0, 3.0)], 0.5) is not None


def test_fallback_points_double_the_most_damaging_layers() -> None:
    ranking = [f"L{i}" for i in range(5)]
    points = fallback_points(_trial("onnxruntime:int8", 0, 2.0), "nodes_to_exclude", ranking)
    assert [p["nodes_to_exclude"] for p in points] == [
        ["L0"], ["L0", "L1"], ["L0", "L1", "L2", "L3"], ranking]
    assert all(p["calibration_method"] == "minmax" for p in points)


def test_excluded_nodes_stay_fp32_and_unknown_names_are_refused(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    layers = OrtStaticInt8.layers(mv2_bundle)
    assert len(layers) == 53 and layers[0].endswith("/Conv")
    kept = [layers[0], layers[-1]]
    result, _ = build_and_load("onnxruntime:int8", mv2_bundle, calibration_images,
                               tmp_path / "a", options={"nodes_to_exclude": kept,
                                                        "calibration_images": 8})
    graph = onnx.load(str(result.artifact)).graph
    producers = {o: n for n in graph.node for o in n.output}
    for node in graph.node:
        if node.op_type in ("Conv", "Gemm"):
            weight_from = producers.get(node.input[1])
            dequantized = weight_from is not None and weight_from.op_type == "DequantizeLinear"
            assert dequantized == (node.name not in kept), node.name
    toolchain = get_toolchain("onnxruntime")
    with pytest.raises(ConfigError, match="no quantizable node named nope"):
        toolchain.build(mv2_bundle, OrtStaticInt8(nodes_to_exclude=("nope",)),
                        calibration_images, tmp_path / "b")


def _weight_quantized(op: object) -> bool:
    """Whether the op's weights are INT8 in the IR: NNCF stores a quantized weight as an i8
    constant with its dequantization (Convert, Subtract, Multiply) in front of the op, or, not
    compressed, behind a FakeQuantize."""
    node = op.input_value(1).get_node()  # type: ignore[attr-defined]
    for _ in range(6):
        kind = node.get_type_name()
        if kind == "FakeQuantize":
            return True
        if kind == "Constant":
            return str(node.get_element_type()) in ("<Type: 'int8_t'>", "<Type: 'uint8_t'>",
                                                    "i8", "u8")
        if node.get_input_size() == 0:
            return False
        node = node.input_value(0).get_node()
    return False


def test_openvino_ignored_scope_keeps_onnx_named_layers_fp32(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    import openvino as ov

    from quantarena.toolchains.openvino.recipes import OvInt8

    layers = OvInt8.layers(mv2_bundle)
    kept = [layers[0], layers[5], layers[-1]]
    result, _ = build_and_load("openvino:int8", mv2_bundle, calibration_images, tmp_path / "a",
                               options={"ignored_scope": kept, "subset_size": 8})
    model = ov.Core().read_model(str(result.artifact))
    weighted = [op for op in model.get_ordered_ops()
                if op.get_type_name() in ("Convolution", "GroupConvolution", "MatMul")]
    assert len(weighted) == 53
    for op in weighted:
        name = op.get_friendly_name()
        is_kept = any(name == k or name.startswith(k + "/") for k in kept)
        assert _weight_quantized(op) == (not is_kept), name
    toolchain = get_toolchain("openvino")
    with pytest.raises(ConfigError, match="no weighted layer named nope"):
        toolchain.build(mv2_bundle, OvInt8(ignored_scope=("nope",)), calibration_images,
                        tmp_path / "b")


@pytest.mark.slow
def test_sensitivity_worker_ranks_layers_from_real_builds(
    mv2_bundle: ModelBundle, sample_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    _, samples = discover(sample_dir)
    splits = split_three(samples, 16, 40, 10, seed=0)
    spec = mv2_bundle.preprocessing
    bundle_file = tmp_path / "bundle.json"
    mv2_bundle.save(bundle_file)
    recipe = OrtStaticInt8(calibration_images=16, per_channel=False)
    job = SensitivityJob(
        recipe=recipe.to_payload("onnxruntime:int8"), bundle=bundle_file,
        calibration=cache_split(splits.calibration, spec, cache_dir, "calibration"),
        validation=cache_split(splits.validation, spec, cache_dir, "validation"),
        images=40, threads=2, workdir=tmp_path / "work", max_layers=3,
    )
    ranking = measure_sensitivity(job, RunConfig(), tmp_path / "logs")
    assert ranking.images == 40 and len(ranking.layers) == 3
    assert {d.layer for d in ranking.layers} == set(OrtStaticInt8.layers(mv2_bundle)[:3])
    keys = [(-d.top1_gain_pp, -d.mse_reduction) for d in ranking.layers]
    assert keys == sorted(keys)
    assert ranking.quantized_mse > 0 and all(d.mse >= 0 for d in ranking.layers)
    # leaving a layer in FP32 changes the output: the error is measured, not copied
    assert len({round(d.mse, 9) for d in ranking.layers} | {round(ranking.quantized_mse, 9)}) > 1
    assert not (tmp_path / "work" / "layer").exists()  # per-layer artifacts are not kept


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["pytorch:int8-fx", "pytorch:int8-pt2e"])
def test_sensitivity_worker_ranks_pytorch_modules(
    variant: str, mv2_bundle: ModelBundle, sample_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """Both PyTorch flows rank their modules by name from real builds, each scored with the
    session trials are measured with (PT2E: compiled by Inductor at load)."""
    _, samples = discover(sample_dir)
    splits = split_three(samples, 16, 50, 10, seed=0)
    spec = mv2_bundle.preprocessing
    bundle_file = tmp_path / "bundle.json"
    mv2_bundle.save(bundle_file)
    toolchain, name = parse_variant(variant)
    recipe = toolchain.parse_recipe(name, {"calibration_images": 16})
    layers = type(recipe).layers(mv2_bundle)
    job = SensitivityJob(
        recipe=recipe.to_payload(variant), bundle=bundle_file,
        calibration=cache_split(splits.calibration, spec, cache_dir, "calibration"),
        validation=cache_split(splits.validation, spec, cache_dir, "validation"),
        images=50, threads=2, workdir=tmp_path / "work", max_layers=2,
    )
    ranking = measure_sensitivity(job, RunConfig(), tmp_path / "logs")
    assert ranking.images == 50 and ranking.calibration_images == 16
    assert {d.layer for d in ranking.layers} == {"features.0.0", "features.1.conv.0.0"}
    assert layers[:2] == ["features.0.0", "features.1.conv.0.0"]
    keys = [(-d.top1_gain_pp, -d.mse_reduction) for d in ranking.layers]
    assert keys == sorted(keys)
    assert ranking.quantized_mse > 0 and all(d.mse > 0 for d in ranking.layers)
    # each one-layer-in-FP32 model really differs from the fully quantized one
    assert all(d.mse != ranking.quantized_mse for d in ranking.layers)
    assert not (tmp_path / "work" / "layer").exists()
