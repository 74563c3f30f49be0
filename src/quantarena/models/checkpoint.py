"""Weights files: read safely, and fitted to a module with a one-line account of any mismatch.

``torch.load(..., weights_only=True)`` never runs code from the file (a pickled checkpoint can).
A file either holds a state dict or a training checkpoint ``{"state_dict": ..., ...}``. When the
weights do not fit the module, the error names the missing, unexpected and mis-shaped tensors on
one line, instead of torch's multi-line ``load_state_dict`` report.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quantarena.errors import ModelError

#: how many tensor names a mismatch message lists before "..."
_LISTED = 3


def load_checkpoint(path: Path) -> Mapping[str, Any]:
    """The state dict in ``path`` (unwrapping ``{"state_dict": ...}``), or ``ModelError``."""
    import torch

    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        # Not torch's text: its first line already advises weights_only=False, which would run
        # code from the file. Name the file and the safe way to write one instead.
        raise ModelError(
            f"cannot read weights file {path}: not a PyTorch state dict of tensors (torch.load "
            f"refused it: {type(exc).__name__}); save one with "
            "torch.save(model.state_dict(), PATH)"
        ) from exc
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelError(
            f"{path} holds no state dict (expected a mapping of names to tensors, or a "
            "checkpoint {'state_dict': ...})"
        )
    return state  # as loaded: its ``_metadata`` tells BatchNorm which version wrote it


def _names(label: str, names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED]) + (", ..." if len(names) > _LISTED else "")
    return f"{len(names)} {label} ({shown})"


def load_fitting(module: Any, state: Mapping[str, Any], what: str) -> None:
    """Load ``state`` into ``module`` strictly; ``what`` names the model in the error."""
    own = module.state_dict()
    # BatchNorm fills in a missing ``num_batches_tracked`` itself (files written before it existed)
    missing = [k for k in own if k not in state and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = [
        _names(label, names)
        for label, names in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("of another shape", shapes),
        )
        if names
    ]
    if problems:
        raise ModelError(f"weights do not fit {what}: " + "; ".join(problems))
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # e.g. a dtype torch cannot copy
        detail = " ".join(str(exc).split())[:300]  # torch's report spans several lines
        raise ModelError(f"weights do not fit {what}: {detail}") from exc
    left = [*result.missing_keys, *result.unexpected_keys]
    if left:  # what a module's own loading hooks still found wrong
        raise ModelError(f"weights do not fit {what}: " + _names("keys left over", left))
