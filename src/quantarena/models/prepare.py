"""Make the FP32 bundle of a run: the torch module's state, its ONNX export, its preprocessing.

Runs inside a worker process (it imports torch); the orchestrator only reads ``bundle.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from quantarena.errors import ConfigError, ModelError
from quantarena.models.spec import IMAGENET_MEAN, IMAGENET_STD, ModelBundle, PreprocessSpec

# The ONNX export must reproduce the module: logits may differ by float rounding only.
EXPORT_TOLERANCE = 1e-3


def is_onnx_path(model: str) -> bool:
    return model.lower().endswith(".onnx")


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
    if is_onnx_path(model):
        bundle = _from_onnx(Path(model), workdir, input_size, resize, mean, std)
    else:
        if any(v is not None for v in (input_size, resize, mean, std)):
            raise ConfigError(
                "--input-size/--resize/--mean/--std apply to ONNX models only; "
                "torchvision models use their weights' own preprocessing"
            )
        bundle = _from_torchvision(model, weights, workdir, seed)
    bundle.save(workdir / "bundle.json")
    return bundle


def _from_torchvision(name: str, weights: str, workdir: Path, seed: int) -> ModelBundle:
    import torch

    from quantarena.models import torchvision_source as tv
    from quantarena.models.export import export_onnx, max_abs_difference

    state, member, pretrained = tv.load_state_dict(name, weights, seed)
    state_path = workdir / "model_state.pt"
    torch.save(state, state_path)
    module = tv.build_module(name, state_path)
    spec = tv.preprocess_spec(member, name)
    shape = (3, spec.crop, spec.crop)
    onnx_path = workdir / "model.onnx"
    export_onnx(module, shape, onnx_path)
    probe = np.random.default_rng(seed).standard_normal((2, *shape)).astype(np.float32)
    difference = max_abs_difference(module, onnx_path, probe)
    if difference > EXPORT_TOLERANCE:
        raise ModelError(f"the ONNX export of {name} differs from the module by {difference:.2g}")
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
    spec = PreprocessSpec(
        resize=resize or int(round(crop / 0.875)),
        crop=crop,
        mean=mean or IMAGENET_MEAN,
        std=std or IMAGENET_STD,
    )
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
    )
