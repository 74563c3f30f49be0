from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from quantarena.errors import ConfigError, ModelError
from quantarena.models.onnx_source import import_onnx
from quantarena.models.prepare import prepare_bundle


def test_bundle_has_real_weights_and_dynamic_batch(mv2_bundle) -> None:
    assert mv2_bundle.weights == "IMAGENET1K_V1" and mv2_bundle.pretrained
    dim = onnx.load(str(mv2_bundle.onnx_path)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "batch"
    assert mv2_bundle.num_classes == 1000


def test_unknown_model_suggests_names(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="did you mean.*mobilenet_v2"):
        prepare_bundle("mobilenet_v22", "default", tmp_path, 0)


def test_unavailable_weights_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="--weights none"):
        prepare_bundle("resnet18", "IMAGENET1K_V1", tmp_path, 0)
    with pytest.raises(ModelError, match="no weights 'V9'"):
        prepare_bundle("resnet18", "V9", tmp_path, 0)


def test_random_weights_are_marked(tmp_path: Path) -> None:
    bundle = prepare_bundle("resnet18", "none", tmp_path, 0)
    assert not bundle.pretrained and bundle.weights == "none"


def test_user_onnx_file(mv2_bundle, tmp_path: Path) -> None:
    bundle = prepare_bundle(str(mv2_bundle.onnx_path), "default", tmp_path / "b", 0, resize=256)
    assert bundle.source == "onnx" and bundle.torch_arch is None
    assert bundle.input_shape == (3, 224, 224) and bundle.preprocessing.resize == 256
    with pytest.raises(ConfigError, match="ONNX models only"):
        prepare_bundle("resnet18", "none", tmp_path / "c", 0, resize=256)


def test_corrupt_and_missing_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf" * 10)
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        import_onnx(bad, tmp_path / "out.onnx")
    with pytest.raises(ModelError, match="not found"):
        import_onnx(tmp_path / "missing.onnx", tmp_path / "out.onnx")
