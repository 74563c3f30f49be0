"""Helpers shared by the PyTorch builders: calibration, warnings, TorchScript files, and
read-back descriptions of observers (so results state what ran, not what was intended)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from quantarena import hardware
from quantarena.data.cache import ImageArray
from quantarena.hardware import Resolved
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.pytorch.facts import ObserverFacts, Serializer

_DEPRECATION = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


@contextlib.contextmanager
def captured_warnings(notes: list[str]) -> Iterator[None]:
    """Record warnings instead of printing them; deprecations become one short note each.

    ``torch.ao.quantization`` and TorchScript are deprecated in favour of torchao/torch.export;
    users should see that in the results once, not as pages of stderr.
    """
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        yield
    seen: set[str] = set()
    for record in records:
        text = str(record.message).strip()
        message = " ".join(text.splitlines()[0].split()) if text else ""
        deprecated = issubclass(record.category, _DEPRECATION) or "deprecat" in message.lower()
        if not deprecated or not message:
            continue
        note = f"{record.category.__name__}: {message[:200]}"
        if note not in seen:
            seen.add(note)
            notes.append(note)


def select_images(calibration: ImageArray, count: int | None) -> ImageArray:
    return calibration if count is None else calibration.subset(min(count, len(calibration)))


def calibrate(module: Any, images: ImageArray, batch: int) -> int:
    """Run every image once through ``module`` (observers record ranges); returns images seen."""
    import torch

    seen = 0
    with torch.no_grad():
        for chunk, valid in images.batches(batch, pad=False):
            module(torch.from_numpy(chunk))
            seen += valid
    return seen


def example_inputs(images: ImageArray, batch: int = 2) -> tuple[Any, ...]:
    """A real-image example batch for tracing/export. Batch 2, not 1: export specializes a
    dimension of size 1, and the artifact must accept any batch size."""
    import torch

    return (torch.from_numpy(images.batches(batch)[0][0]),)


def set_engine(engine: str) -> str:
    """Select the quantized engine and return the one torch reports now (what the results state).
    Packed weights are re-packed for the engine when a model loads."""
    import torch

    if engine not in torch.backends.quantized.supported_engines:
        raise RuntimeError(
            f"quantized engine {engine!r} is not in this torch build "
            f"({', '.join(torch.backends.quantized.supported_engines)})"
        )
    torch.backends.quantized.engine = engine
    return str(torch.backends.quantized.engine)


def save_torchscript(module: Any, example: tuple[Any, ...], target: Path) -> Serializer:
    """Script the module if TorchScript can, else trace it with a real batch; returns which.

    A TorchScript file holds code, int8 weights and quantization parameters, so a fresh worker
    loads it without the quantizable model class and without re-running quantization.
    """
    import torch

    how: Serializer
    try:
        scripted = torch.jit.script(module)
        how = "torch.jit.script"
    except Exception:  # noqa: BLE001 - scripting failures come in many types; tracing is the fallback
        with torch.no_grad():
            # torch.jit.trace has no annotations
            scripted = torch.jit.trace(module, example)  # type: ignore[no-untyped-call]  # untyped torch API
        how = "torch.jit.trace"
    torch.jit.save(scripted, str(target))
    return how


def describe_observer(factory: Any) -> ObserverFacts:
    """Instantiate an observer/fake-quant factory and read back what it does."""
    observer = factory()
    inner = getattr(observer, "activation_post_process", observer)
    scheme = str(getattr(observer, "qscheme", getattr(inner, "qscheme", "")))
    return ObserverFacts(
        observer=type(inner).__name__,
        dtype=str(getattr(observer, "dtype", getattr(inner, "dtype", ""))).replace("torch.", ""),
        granularity="per-channel" if "per_channel" in scheme else "per-tensor",
        scheme="symmetric" if "symmetric" in scheme else "affine",
        reduce_range=bool(getattr(inner, "reduce_range", False)),
    )


def describe_qconfig(qconfig: Any) -> tuple[ObserverFacts, ObserverFacts]:
    """(activations, weights) of a ``QConfig``."""
    return describe_observer(qconfig.activation), describe_observer(qconfig.weight)


def qconfig_remedy(qconfig: Any, source: str) -> Resolved:
    """What the engine's qconfig does about the u8×s8 16-bit overflow, read back from its
    activation observer (``source`` names where the qconfig came from, e.g.
    ``get_default_qconfig('x86')``). There is no knob: eager and FX take the engine's qconfig, and
    the x86/fbgemm ones already observe activations with ``reduce_range=True`` (7 bits) for CPUs
    without VNNI, at the price of one bit of activation resolution on CPUs with it. Instantiating
    the observer warns about its deprecated settings: call it under ``captured_warnings``."""
    observer = qconfig.activation()
    inner = getattr(observer, "activation_post_process", observer)
    reduced = bool(getattr(inner, "reduce_range", False))
    # The observer applies reduce_range to its own quant_min/quant_max: [0, 127] for 7 bits.
    span = f"[{int(inner.quant_min)}, {int(inner.quant_max)}]"
    cpu = hardware.this_cpu()
    if reduced:
        why = (
            f"{source} observes activations with reduce_range=True ({span}, 7 bits) so that "
            "u8×s8 sums cannot overflow 16 bits on CPUs without VNNI; "
            + (
                f"this CPU needs it: {cpu.describe()}"
                if cpu.saturates
                else f"on this CPU ({cpu.describe()}) it only costs a little activation resolution"
            )
        )
    else:
        why = f"{source} observes activations with all 8 bits ({span}); " + (
            f"on this CPU u8×s8 sums can saturate: {cpu.describe()}"
            if cpu.saturates
            else f"no saturation on this CPU: {cpu.describe()}"
        )
    return Resolved(asked="qconfig", value=reduced, why=why)


def count_modules(module: Any) -> dict[str, int]:
    """Module class name -> count: shows which layers ended up quantized."""
    counts: dict[str, int] = {}
    for sub in module.modules():
        name = f"{type(sub).__module__.rsplit('.', 1)[-1]}.{type(sub).__name__}"
        counts[name] = counts.get(name, 0) + 1
    return counts


def fp32_module(bundle: ModelBundle) -> Any:
    """The bundle's FP32 ``torch.nn.Module`` in eval mode, rebuilt from its saved state: the
    torchvision architecture, or the user's factory called again (imports torch; only PyTorch
    builds and sessions need it, so it lives here, not in the plain-data bundle)."""
    from quantarena.errors import ToolchainUnavailable
    from quantarena.models import factory_source, torchvision_source

    if bundle.torch_state_path is None or not bundle.has_torch_module:
        raise ToolchainUnavailable(
            f"model {bundle.name!r} came from an ONNX file: it has no PyTorch module"
        )
    if bundle.torch_factory is not None:
        return factory_source.build_module(bundle.torch_factory, bundle.torch_state_path)
    assert bundle.torch_arch is not None  # has_torch_module: one of the two is set
    return torchvision_source.build_module(bundle.torch_arch, bundle.torch_state_path)
