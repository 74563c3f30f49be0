"""What a cluster run ships: the prepared inputs out to a node (bundle paths re-pointed at the
node's copy, splits byte for byte), and the run folder's changed files back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from quantarena.cluster.ship import collect, pack_inputs, unpack_inputs
from quantarena.data.cache import load_split
from quantarena.models.spec import ModelBundle, PreprocessSpec
from quantarena.results.io import load_results
from quantarena.runner.shared_inputs import SPLIT_LISTS, SharedInputs
from quantarena.runner.variant import SplitFiles

FIXTURE = Path(__file__).parent / "fixtures" / "mobilenet_v2-avx512-vnni-run"


def _prepared(root: Path) -> SharedInputs:
    """A prepared folder as ``prepare_once`` leaves it (bundle, split arrays and sidecars)."""
    (root / "fp32").mkdir(parents=True)
    (root / "fp32" / "model.onnx").write_bytes(b"onnx bytes")
    (root / "fp32" / "model_state.pt").write_bytes(b"state bytes")
    ModelBundle(
        name="mobilenet_v2", source="torchvision", weights="IMAGENET1K_V1", pretrained=True,
        input_shape=(3, 8, 8), preprocessing=PreprocessSpec(resize=8, crop=8),
        onnx_path=root / "fp32" / "model.onnx", torch_arch="mobilenet_v2",
        torch_state_path=root / "fp32" / "model_state.pt",
    ).save(root / "fp32" / "bundle.json")
    for index, split in enumerate(("calibration", "evaluation")):
        images = np.full((2, 3, 8, 8), index, dtype=np.float32)
        np.save(root / f"{split}.npy", images)
        (root / f"{split}.json").write_text(json.dumps({"labels": [1, 2],
                                                        "files": [f"{split}-a", f"{split}-b"]}))
    for name in SPLIT_LISTS:
        (root / name).write_text(f"{name} list")
    return SharedInputs(
        files=SplitFiles(bundle=root / "fp32" / "bundle.json", calibration=root / "calibration.npy",
                         evaluation=root / "evaluation.npy"),
        header=load_results(FIXTURE), split_lists=root,
    )


def test_inputs_arrive_whole_with_the_bundle_pointing_at_the_node_copy(tmp_path: Path) -> None:
    shared = _prepared(tmp_path / "driver")
    node = unpack_inputs(pack_inputs(shared), tmp_path / "node")
    bundle = node.bundle()
    assert bundle.onnx_path == tmp_path / "node" / "fp32" / "model.onnx"
    assert bundle.torch_state_path == tmp_path / "node" / "fp32" / "model_state.pt"
    assert bundle.onnx_path.read_bytes() == b"onnx bytes"
    for split in ("calibration", "evaluation"):
        sent, got = load_split(getattr(shared.files, split)), load_split(getattr(node.files, split))
        assert np.array_equal(sent.images, got.images) and got.files == sent.files
    assert node.header == shared.header
    assert (node.split_lists / SPLIT_LISTS[1]).read_text() == f"{SPLIT_LISTS[1]} list"


def test_only_changed_results_predictions_and_logs_come_back(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "variants" / "a").mkdir(parents=True)
    (run / "logs").mkdir()
    (run / "results.json").write_text("{}")
    (run / "variants" / "a" / "predictions.npz").write_bytes(b"p")
    (run / "variants" / "a" / "model.onnx").write_bytes(b"artifact")  # stays on the node
    (run / "logs" / "a.build.log").write_text("log")
    sent: dict[str, float] = {}
    first = collect(run, sent)
    assert sorted(first) == ["logs/a.build.log", "results.json", "variants/a/predictions.npz"]
    assert collect(run, sent) == {}
    (run / "results.json").write_text('{"saved": 2}')
    os.utime(run / "results.json", (1, 1))  # a new modification time, as a new save has
    assert collect(run, sent) == {"results.json": b'{"saved": 2}'}
