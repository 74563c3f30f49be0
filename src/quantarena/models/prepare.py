"""Make the FP32 bundle of a run: the torch module's state, its ONNX export, its preprocessing.

Runs inside a worker process (it imports torch); the orchestrator only reads ``bundle.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from quantarena.errors import ConfigError, ModelError, first_line
from quantarena.models.reference import model_kind
from quantarena.models.spec import IMAGENET_MEAN, IMAGENET_STD, ModelBundle, PreprocessSpec

# The ONNX export must reproduce the module: logits may differ by float rounding only.
EXPORT_TOLERANCE = 1e-3


def is_onnx_path(model: str) -> bool:
    return model_kind(model) == "onnx"


def prepare_bundle(
    model: str,
    weights: str,
    workdir: Path,
    seed: int,
    *,
    input_size: int | None = None,
    resize: int | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
) -> ModelBundle:
    """Write ``model.onnx`` (+ ``model_state.pt`` for torch models) and ``bundle.json``."""
    workdir.mkdir(parents=True, exist_ok=True)
    kind = model_kind(model)
    if kind == "onnx":
        bundle = _from_onnx(Path(model), workdir, input_size, resize, mean, std)
    elif kind == "factory":
        bundle = _from_factory(model, weights, workdir, seed, input_size, resize, mean, std)
    else:
        if any(v is not None for v in (input_size, resize, mean, std)):
            raise ConfigError(
                "--input-size/--resize/--mean/--std apply to ONNX files and package.module:factory "
                "models only; torchvision models use their weights' own preprocessing"
            )
        bundle = _from_torchvision(model, weights, workdir, seed)
    bundle.save(workdir / "bundle.json")
    return bundle


def _from_torchvision(name: str, weights: str, workdir: Path, seed: int) -> ModelBundle:
    import torch

    from quantarena.models import torchvision_source as tv

    state, member, pretrained = tv.load_state_dict(name, weights, seed)
    state_path = workdir / "model_state.pt"
    torch.save(state, state_path)
    module = tv.build_module(name, state_path)
    spec = tv.preprocess_spec(member, name)
    shape = (3, spec.crop, spec.crop)
    onnx_path, difference = export_checked(module, shape, workdir, seed, name)
    label = member.name if member is not None else ("none" if weights == "none" else weights)
    return ModelBundle(
        name=name,
        source="torchvision",
        weights=label,
        pretrained=pretrained,
        input_shape=shape,
        preprocessing=spec,
        onnx_path=onnx_path,
        num_classes=_num_classes(module, shape),
        torch_arch=name,
        torch_state_path=state_path,
        notes=(f"ONNX export max |logit difference| vs torch: {difference:.2e}",),
    )


def export_checked(
    module: Any, shape: tuple[int, int, int], workdir: Path, seed: int, name: str
) -> tuple[Path, float]:
    """Export ``module`` to ``workdir/model.onnx`` and check it reproduces the module's logits
    (every non-PyTorch variant starts from this file); returns (path, max |difference|)."""
    from quantarena.models.export import export_onnx, max_abs_difference

    onnx_path = workdir / "model.onnx"
    try:
        export_onnx(module, shape, onnx_path)
    except Exception as exc:  # noqa: BLE001 - the exporters raise many types for one cause
        raise ModelError(
            f"cannot export {name} to ONNX: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    probe = np.random.default_rng(seed).standard_normal((2, *shape)).astype(np.float32)
    difference = max_abs_difference(module, onnx_path, probe)
    if difference > EXPORT_TOLERANCE:
        raise ModelError(f"the ONNX export of {name} differs from the module by {difference:.2g}")
    return onnx_path, difference


def _from_factory(
    model: str,
    weights: str,
    workdir: Path,
    seed: int,
    input_size: int | None,
    resize: int | None,
    mean: tuple[float, float, float] | None,
    std: tuple[float, float, float] | None,
) -> ModelBundle:
    """A ``package.module:factory`` model: called under the run's seed (so ``--weights none``
    is reproducible), its ``--weights`` file fitted, its state saved, and rebuilt from that state
    exactly as the PyTorch workers will rebuild it before it is exported."""
    import torch

    from quantarena.models import factory_source
    from quantarena.models.checkpoint import load_checkpoint, load_fitting
    from quantarena.models.reference import parse_factory

    ref = parse_factory(model)
    if input_size is None:
        raise ConfigError(
            f"--input-size is required for {ref.text()}: a PyTorch module does not say which "
            "crop it was trained at"
        )
    torch.manual_seed(seed)
    module = factory_source.call_factory(ref)
    if weights in ("default", "none"):
        label = "factory-default" if weights == "default" else "none"
        notes = [
            f"weights: as {ref.call_text()} returned them (no --weights file)"
            + (", marked random: accuracy is not measured" if weights == "none" else "")
        ]
    else:
        load_fitting(module, load_checkpoint(Path(weights)), ref.text())
        label, notes = weights, []
    state_path = workdir / "model_state.pt"
    torch.save(module.state_dict(), state_path)
    module = factory_source.build_module(ref.text(), state_path)
    shape = (3, input_size, input_size)
    classes = _probe(module, shape, ref.text())
    spec, spec_notes = _user_spec(input_size, resize, mean, std)
    onnx_path, difference = export_checked(module, shape, workdir, seed, ref.text())
    return ModelBundle(
        name=ref.text(),
        source="factory",
        weights=label,
        pretrained=weights != "none",
        input_shape=shape,
        preprocessing=spec,
        onnx_path=onnx_path,
        num_classes=classes,
        torch_state_path=state_path,
        torch_factory=ref.text(),
        notes=(
            *notes,
            *spec_notes,
            f"ONNX export max |logit difference| vs torch: {difference:.2e}",
        ),
    )


def _probe(module: Any, shape: tuple[int, int, int], name: str) -> int:
    """Run a batch of 2 through a user's module: it must take NCHW images and give (N, classes)
    logits. Returns the number of classes."""
    import torch

    try:
        with torch.inference_mode():
            out = module(torch.zeros(2, *shape))
    except Exception as exc:  # noqa: BLE001 - the user's forward may raise anything
        raise ModelError(
            f"{name} fails on a 2x{shape[0]}x{shape[1]}x{shape[2]} input (check --input-size): "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from exc
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(f"{name} returns {got} for 2 images; expected (batch, classes) logits")
    return int(out.shape[1])


def _user_spec(
    crop: int,
    resize: int | None,
    mean: tuple[float, float, float] | None,
    std: tuple[float, float, float] | None,
) -> tuple[PreprocessSpec, tuple[str, ...]]:
    """Preprocessing of a user's model (ONNX file or factory) from the flags; the defaults used
    are named in the notes, since a wrong mean/std costs accuracy without any error."""
    defaults = [
        text
        for given, text in (
            (resize, f"resize {int(round(crop / 0.875))} (crop / 0.875)"),
            (mean, "ImageNet mean"),
            (std, "ImageNet std"),
        )
        if given is None
    ]
    spec = PreprocessSpec(
        resize=resize or int(round(crop / 0.875)),
        crop=crop,
        mean=mean or IMAGENET_MEAN,
        std=std or IMAGENET_STD,
    )
    notes = (
        (f"preprocessing defaults used: {', '.join(defaults)} (set --resize/--mean/--std)",)
        if defaults
        else ()
    )
    return spec, notes


def _num_classes(module: Any, shape: tuple[int, int, int]) -> int:
    import torch

    with torch.inference_mode():
        return int(module(torch.zeros(1, *shape)).shape[-1])


def _from_onnx(
    path: Path,
    workdir: Path,
    input_size: int | None,
    resize: int | None,
    mean: tuple[float, float, float] | None,
    std: tuple[float, float, float] | None,
) -> ModelBundle:
    from quantarena.models.onnx_source import import_onnx

    onnx_path = workdir / "model.onnx"
    input_name, output_name, shape = import_onnx(path, onnx_path)
    crop = input_size or shape[1]
    if crop != shape[1] or shape[1] != shape[2]:
        raise ModelError(
            f"{path}: input is {shape}, which does not match a square {crop}x{crop} crop"
        )
    spec, notes = _user_spec(crop, resize, mean, std)
    return ModelBundle(
        name=path.stem,
        source="onnx",
        weights=str(path),
        pretrained=True,
        input_shape=shape,
        preprocessing=spec,
        onnx_path=onnx_path,
        input_name=input_name,
        output_name=output_name,
        notes=notes,
    )
