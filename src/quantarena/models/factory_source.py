"""A user's own PyTorch classifier: ``package.module:factory`` imported from the user's
environment and called, its weights loaded from ``--weights``.

Every way this can go wrong (no such module, the module's own import failing, no such attribute,
a factory that raises or returns something that is not an ``nn.Module``) is a ``ModelError`` with
one line that says which, never a traceback. Workers rebuild the module the same way: call the
factory again, then load the state saved with the FP32 bundle, so every PyTorch variant starts
from the very same weights. Workers run as ``python -m`` from the user's working directory, so a
module there is found as well as an installed one.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quantarena.errors import ModelError, first_line
from quantarena.models.checkpoint import load_fitting
from quantarena.models.reference import FactoryRef, parse_factory


def _import(ref: FactoryRef) -> Any:
    try:
        return importlib.import_module(ref.module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (ref.module + ".").startswith(exc.name + "."):
            raise ModelError(
                f"cannot import module {ref.module!r} for --model {ref.text()}: no such module "
                "(install it, or put it on PYTHONPATH or in the current directory)"
            ) from None
        raise ModelError(
            f"importing {ref.module!r} failed: ModuleNotFoundError: {first_line(exc)}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - the user's module may raise anything on import
        raise ModelError(
            f"importing {ref.module!r} failed: {type(exc).__name__}: {first_line(exc)}"
        ) from exc


def import_factory(ref: FactoryRef) -> Any:
    """The callable ``ref`` names; a missing attribute is named with close matches."""
    target = _import(ref)
    where = ref.module
    for part in ref.attribute.split("."):
        if not hasattr(target, part):
            public = [n for n in dir(target) if not n.startswith("_")]
            close = difflib.get_close_matches(part, public, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ModelError(f"{where!r} has no attribute {part!r}{hint}")
        target = getattr(target, part)
        where = f"{where}.{part}" if where != ref.module else f"{where}:{part}"
    if not callable(target):
        raise ModelError(f"{ref.module}:{ref.attribute} is {type(target).__name__}, not callable")
    return target


def call_factory(ref: FactoryRef) -> Any:
    """Import and call the factory; the ``torch.nn.Module`` it returns, in eval mode."""
    import torch

    factory = import_factory(ref)
    try:
        module = factory(**ref.kwargs)
    except Exception as exc:  # noqa: BLE001 - the user's factory may raise anything
        raise ModelError(
            f"{ref.call_text()} raised {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    if not isinstance(module, torch.nn.Module):
        raise ModelError(
            f"{ref.call_text()} returned {type(module).__qualname__}, not a torch.nn.Module"
        )
    return module.eval()


def build_module(reference: str, state: Path | Mapping[str, Any]) -> Any:
    """Rebuild the FP32 module in a worker: call the factory, load the saved state (a path, as
    the bundle keeps it, or a state dict, as the FP32 artifact holds it)."""
    import torch

    ref = parse_factory(reference)
    module = call_factory(ref)
    weights = (
        torch.load(state, map_location="cpu", weights_only=True)
        if isinstance(state, Path)
        else state
    )
    load_fitting(module, weights, ref.text())
    return module.eval()
