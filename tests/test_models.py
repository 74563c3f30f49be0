from __future__ import annotations

import re
from pathlib import Path

import onnx
import pytest

from quantarena.errors import ConfigError, ModelError
from quantarena.models.onnx_source import import_onnx
from quantarena.models.prepare import prepare_bundle
from quantarena.models.reference import model_kind, parse_factory, run_stem
from quantarena.models.spec import ModelBundle


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
    with pytest.raises(ConfigError, match="ONNX files and package.module:factory models only"):
        prepare_bundle("resnet18", "none", tmp_path / "c", 0, resize=256)


def test_corrupt_and_missing_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not protobuf" * 10)
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        import_onnx(bad, tmp_path / "out.onnx")
    with pytest.raises(ModelError, match="not found"):
        import_onnx(tmp_path / "missing.onnx", tmp_path / "out.onnx")


# --- a user's PyTorch factory: package.module:factory -------------------------------------------


def test_model_kinds_cannot_collide() -> None:
    assert model_kind("mobilenet_v2") == "torchvision"
    assert model_kind("models/net.ONNX") == "onnx"
    assert model_kind("C:/models/net.onnx") == "onnx"  # a drive letter's colon is no factory
    assert model_kind("pkg.models:build") == "factory"
    assert model_kind("pkg.models:build(path='a.onnx')") == "factory"
    assert run_stem("pkg.models:Net.create(name='b0')") == "pkg.models_Net.create_name_b0"
    assert run_stem("models/net.onnx") == "net" and run_stem("resnet50") == "resnet50"


def test_factory_reference_parses_and_round_trips() -> None:
    ref = parse_factory("pkg.models : Net.create(width=0.5, name='x', sizes=(1, 2))")
    assert (ref.module, ref.attribute) == ("pkg.models", "Net.create")
    assert ref.kwargs == {"width": 0.5, "name": "x", "sizes": (1, 2)}
    assert parse_factory(ref.text()) == ref
    assert parse_factory("pkg:f").call_text() == "pkg:f()"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("my/file.py:build", "not an importable module path"),
        ("pkg:", "does not parse"),
        ("pkg:f(1)", "pass factory arguments by keyword"),
        ("pkg:f(**options)", "name each argument"),
        ("pkg:f(x=os.getcwd())", "argument 'x' must be a Python literal"),
        ("pkg:f()()", "the factory must be a name"),
    ],
)
def test_malformed_factory_references_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ModelError, match=re.escape(message)):
        parse_factory(text)


def test_factory_failures_are_one_line_model_errors() -> None:
    from quantarena.models.factory_source import call_factory

    cases = [
        ("no_such_module_qa:f", "cannot import module 'no_such_module_qa'"),
        ("json:lods", "'json' has no attribute 'lods' (did you mean loads, "),
        ("json:decoder.JSONDecodr", "'json:decoder' has no attribute 'JSONDecodr'"),
        ("json:__doc__", "json:__doc__ is str, not callable"),
        ("json:loads(s='{')", "json:loads(s='{') raised JSONDecodeError: Expecting property"),
        ("collections:OrderedDict", "returned OrderedDict, not a torch.nn.Module"),
    ]
    for text, message in cases:
        with pytest.raises(ModelError, match=re.escape(message)) as info:
            call_factory(parse_factory(text))
        assert "\n" not in str(info.value)


def test_a_module_whose_own_import_fails_is_told_from_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantarena.models.factory_source import call_factory

    (tmp_path / "qa_needs_a_dependency.py").write_text("import qa_missing_dependency\n")
    (tmp_path / "qa_raises_on_import.py").write_text("raise RuntimeError('no GPU\\nsecond line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelError, match=re.escape(
        "importing 'qa_needs_a_dependency' failed: ModuleNotFoundError: "
        "No module named 'qa_missing_dependency'"
    )):
        call_factory(parse_factory("qa_needs_a_dependency:build"))
    with pytest.raises(ModelError) as info:
        call_factory(parse_factory("qa_raises_on_import:build"))
    assert str(info.value) == "importing 'qa_raises_on_import' failed: RuntimeError: no GPU"


def test_torchvision_factory_rebuilds_the_same_module(mv2_bundle, tmp_path: Path) -> None:
    import torch

    from quantarena.toolchains.pytorch._common import fp32_module
    from quantarena.toolchains.pytorch.recipes import TorchEagerInt8, TorchFxInt8, TorchPt2eInt8

    bundle = prepare_bundle(
        "torchvision.models:mobilenet_v2",
        str(mv2_bundle.torch_state_path),
        tmp_path,
        0,
        input_size=224,
    )
    assert bundle.source == "factory" and bundle.torch_arch is None and bundle.has_torch_module
    assert bundle.torch_factory == bundle.torch_source == "torchvision.models:mobilenet_v2"
    assert bundle.pretrained and bundle.num_classes == 1000
    assert bundle.preprocessing.resize == 256
    assert any("defaults used: resize 256" in note for note in bundle.notes)
    assert ModelBundle.load(tmp_path / "bundle.json") == bundle
    images = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(fp32_module(bundle)(images), fp32_module(mv2_bundle)(images))
    assert "user's factory" in (TorchEagerInt8.model_problem(bundle) or "")
    assert TorchFxInt8.model_problem(bundle) is None
    assert TorchPt2eInt8.model_problem(bundle) is None


def test_factory_needs_an_input_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--input-size is required"):
        prepare_bundle("torchvision.models:resnet18", "none", tmp_path, 0)


def test_bundle_json_without_a_factory_still_loads(mv2_bundle) -> None:
    data = mv2_bundle.to_json()
    del data["torch_factory"]  # as written before factories existed
    loaded = ModelBundle.from_json(data)
    assert loaded.torch_factory is None and loaded.has_torch_module
    assert loaded.torch_source == "mobilenet_v2"


def test_weights_files_are_read_safely_and_fitted_strictly(tmp_path: Path) -> None:
    import torch

    from quantarena.models.checkpoint import load_checkpoint, load_fitting

    checkpoint = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": {"weight": torch.ones(3, 2)}, "epoch": 7}, checkpoint)
    assert list(load_checkpoint(checkpoint)) == ["weight"]
    not_a_state = tmp_path / "list.pth"
    torch.save([1, 2], not_a_state)
    with pytest.raises(ModelError, match="holds no state dict"):
        load_checkpoint(not_a_state)
    with pytest.raises(ModelError, match="weights file not found"):
        load_checkpoint(tmp_path / "missing.pth")
    state = {"weight": torch.zeros(3, 2), "bias": torch.zeros(4), "extra": torch.zeros(1)}
    with pytest.raises(ModelError) as info:
        load_fitting(torch.nn.Linear(2, 3), state, "lin")
    assert str(info.value) == (
        "weights do not fit lin: 1 unexpected (extra); "
        "1 of another shape (bias: file (4,), model (3,))"
    )
