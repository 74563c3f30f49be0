"""What travels between the driver and the nodes, as plain ``{relative path: bytes}`` mappings
that Ray's object store carries: the prepared inputs out (once, shared by every node), the run
folder's results, predictions and logs back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from quantarena.models.spec import ModelBundle
from quantarena.results.schema import Results
from quantarena.runner.shared_inputs import SPLIT_LISTS, SharedInputs
from quantarena.runner.variant import SplitFiles

Files = dict[str, bytes]
HEADER = "header.json"
#: what comes back from a node's run folder: never the artifacts (they are the node's own)
RETURNED = ("results.json", "variants/*/*predictions.npz", "logs/*")


def _with_sidecar(array: Path) -> list[Path]:
    return [array, array.with_suffix(".json")]


def pack_inputs(shared: SharedInputs) -> Files:
    """The bundle folder, both cached splits with their sidecars, the split lists and the
    results header, each under the name ``unpack_inputs`` expects."""
    files: Files = {HEADER: shared.header.model_dump_json().encode()}
    for path in sorted(shared.files.bundle.parent.iterdir()):
        if path.is_file():
            files[f"fp32/{path.name}"] = path.read_bytes()
    for split in ("calibration", "evaluation"):
        for path in _with_sidecar(getattr(shared.files, split)):
            files[f"splits/{split}{path.suffix}"] = path.read_bytes()
    for name in SPLIT_LISTS:
        files[name] = (shared.split_lists / name).read_bytes()
    return files


def write_files(files: Files, root: Path) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def unpack_inputs(files: Files, root: Path) -> SharedInputs:
    """Write the shipped inputs under ``root``; the bundle's file paths now point there."""
    write_files(files, root)
    bundle_json = root / "fp32" / "bundle.json"
    bundle = ModelBundle.load(bundle_json)
    state = bundle.torch_state_path
    replace(
        bundle, onnx_path=root / "fp32" / bundle.onnx_path.name,
        torch_state_path=root / "fp32" / state.name if state is not None else None,
    ).save(bundle_json)
    return SharedInputs(
        files=SplitFiles(bundle=bundle_json, calibration=root / "splits" / "calibration.npy",
                         evaluation=root / "splits" / "evaluation.npy"),
        header=Results.model_validate_json(files[HEADER]),
        split_lists=root,
    )


def collect(run_dir: Path, sent: dict[str, float]) -> Files:
    """The run folder's results, predictions and logs changed since ``sent`` (path -> mtime),
    which is updated."""
    files: Files = {}
    for pattern in RETURNED:
        for path in sorted(run_dir.glob(pattern)):
            name = path.relative_to(run_dir).as_posix()
            mtime = path.stat().st_mtime
            if path.is_file() and sent.get(name) != mtime:
                files[name] = path.read_bytes()
                sent[name] = mtime
    return files
