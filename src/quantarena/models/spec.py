"""What a model needs besides its weights: input geometry and preprocessing, as plain data.

A ``PreprocessSpec`` is shared by the data cache (which turns JPEGs into tensors once) and by the
results (so the recipe discloses exactly how images were prepared).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def as_chw(values: list[int]) -> tuple[int, int, int]:
    c, h, w = (int(v) for v in values)
    return c, h, w


def as_triple(values: list[float]) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return a, b, c


@dataclass(frozen=True)
class PreprocessSpec:
    """Resize the shorter side, center-crop, scale to [0, 1], normalize per channel (torchvision's
    ``ImageClassification`` semantics, which is what its pretrained weights were evaluated with)."""

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def key(self) -> str:
        """A short stable hash, used to name cached tensors."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        return cls(
            resize=int(data["resize"]),
            crop=int(data["crop"]),
            mean=as_triple(data["mean"]),
            std=as_triple(data["std"]),
            interpolation=str(data.get("interpolation", "bilinear")),
        )


@dataclass(frozen=True)
class ModelBundle:
    """The FP32 reference every toolchain starts from, as files on disk.

    Built once per run by a worker process (so the orchestrator never imports torch) and handed
    to every ``Toolchain.build`` call. A torch module is rebuilt from ``torch_state_path`` and
    either ``torch_arch`` (a torchvision architecture, which may have a quantizable twin) or
    ``torch_factory`` (a user's ``package.module:factory(...)``, called again in each worker);
    both are ``None`` when the model came from a user's ONNX file: PyTorch toolchains then report
    themselves unavailable. ``torch_factory`` came last, so older ``bundle.json`` files lack it.
    """

    name: str
    source: str  # "torchvision" | "onnx" | "factory"
    weights: str  # weights enum name, "none", "factory-default", or a file path
    pretrained: bool  # False for random weights: accuracy is then unavailable
    input_shape: tuple[int, int, int]  # C, H, W
    preprocessing: PreprocessSpec
    onnx_path: Path
    input_name: str = "input"
    output_name: str = "logits"
    num_classes: int = 1000
    torch_arch: str | None = None
    torch_state_path: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    torch_factory: str | None = None

    @property
    def has_torch_module(self) -> bool:
        """Whether PyTorch variants can rebuild the FP32 module from this bundle."""
        return self.torch_state_path is not None and (
            self.torch_arch is not None or self.torch_factory is not None
        )

    @property
    def torch_source(self) -> str | None:
        """What the torch module is rebuilt from: the torchvision name or the factory."""
        return self.torch_factory or self.torch_arch

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["onnx_path"] = str(self.onnx_path)
        data["torch_state_path"] = str(self.torch_state_path) if self.torch_state_path else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelBundle:
        return cls(
            name=data["name"],
            source=data["source"],
            weights=data["weights"],
            pretrained=bool(data["pretrained"]),
            input_shape=as_chw(data["input_shape"]),
            preprocessing=PreprocessSpec.from_dict(data["preprocessing"]),
            onnx_path=Path(data["onnx_path"]),
            input_name=data.get("input_name", "input"),
            output_name=data.get("output_name", "logits"),
            num_classes=int(data.get("num_classes", 1000)),
            torch_arch=data.get("torch_arch"),
            torch_state_path=Path(data["torch_state_path"])
            if data.get("torch_state_path")
            else None,
            notes=tuple(data.get("notes", ())),
            torch_factory=data.get("torch_factory"),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: Path) -> ModelBundle:
        return cls.from_json(json.loads(path.read_text()))
