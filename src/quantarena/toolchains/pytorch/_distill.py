"""Distillation training shared by both QAT paths (PT2E and eager), so they are compared on equal
terms: the same FP32 teacher, KL loss, images, flips, optimizer, clipping and step budget. Only the
observer switches differ (torchao's PT2E ones or ``torch.ao.quantization``'s), passed in.

Only calibration images are used (never evaluation images) and no labels: the FP32 model is the
teacher and the loss is the KL divergence between its logits and the fake-quantized student's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.pytorch import _common
from quantarena.toolchains.pytorch.recipes import _DistilledQat

#: Steps averaged for the reported start and end training loss.
LOSS_WINDOW = 10


@dataclass(frozen=True)
class ObserverSwitch:
    """Module-level functions (for ``Module.apply``) that switch observers on and off."""

    enable: Callable[[Any], None]
    disable: Callable[[Any], None]


@dataclass(frozen=True)
class Teacher:
    """The training images as one tensor and the FP32 teacher's logits for each image and its
    mirror image (keyed by ``flipped``), computed once."""

    data: Any
    soft: dict[bool, Any]


@dataclass(frozen=True)
class Training:
    """What a training run did, in the shape the facts report it."""

    history: list[float]
    frozen_at: int
    loss_before: float
    loss_after: float
    changed_fraction: float
    relative_change: float

    def loss_facts(self) -> dict[str, Any]:
        """The ``QatTrainingFacts`` fields about the loss, weights and freezing."""
        window = max(1, min(LOSS_WINDOW, len(self.history) // 4))
        return {
            "loss_start": float(np.mean(self.history[:window])),
            "loss_end": float(np.mean(self.history[-window:])),
            "loss_window_steps": window,
            "loss_all_images_before": self.loss_before,
            "loss_all_images_after": self.loss_after,
            "loss_history": [round(v, 6) for v in self.history],
            "weights_changed_fraction": self.changed_fraction,
            "weights_mean_relative_change": self.relative_change,
            "observers_frozen_at_step": self.frozen_at,
            "batchnorm_frozen_at_step": 0,
        }


def teacher(bundle: ModelBundle, images: ImageArray) -> Teacher:
    import torch

    data = torch.from_numpy(np.array(images.images, dtype=np.float32))
    model = _common.fp32_module(bundle)
    with torch.no_grad():
        soft = {False: model(data), True: model(data.flip(-1))}
    return Teacher(data, soft)


def describe(recipe: _DistilledQat) -> dict[str, str]:
    """The ``QatTrainingFacts`` fields that restate the recipe in words."""
    return {
        "teacher": "FP32 model (same weights), KL divergence on logits, no labels",
        "trained": "conv/linear weights and batch-norm scale/shift"
        if recipe.train_batchnorm
        else "conv/linear weights (batch-norm scale/shift fixed)",
        "augmentation": "random horizontal flip" if recipe.horizontal_flip else "none",
    }


def distill(
    student: Any, taught: Teacher, recipe: _DistilledQat, switch: ObserverSwitch
) -> Training:
    """Train ``student`` (fake-quantized, observers initialized, batch norm on running stats)
    towards the teacher; measures the loss on every image before and after."""
    initial = {n: p.detach().clone() for n, p in student.named_parameters() if p.dim() > 1}
    before = _full_loss(student, taught, recipe.temperature, switch)
    history, frozen_at = _train(student, taught, recipe, switch)
    after = _full_loss(student, taught, recipe.temperature, switch)
    changed, relative = _weight_change(student, initial)
    return Training(history, frozen_at, before, after, changed, relative)


def _kl(student_logits: Any, teacher_logits: Any, temperature: float) -> Any:
    import torch.nn.functional as F

    return F.kl_div(
        F.log_softmax(student_logits / temperature, dim=1),
        F.log_softmax(teacher_logits / temperature, dim=1),
        log_target=True,
        reduction="batchmean",
    ) * temperature**2


def _full_loss(student: Any, taught: Teacher, temperature: float, switch: ObserverSwitch) -> float:
    """Distillation loss on every (unflipped) training image. Observers are switched off first so
    that measuring changes nothing (``_train`` switches them on again)."""
    import torch

    student.apply(switch.disable)
    with torch.no_grad():
        loss = float(_kl(student(taught.data), taught.soft[False], temperature))
    return loss


def _train(
    student: Any, taught: Teacher, recipe: _DistilledQat, switch: ObserverSwitch
) -> tuple[list[float], int]:
    """Fine-tune; returns the loss of every step and the step at which observers froze."""
    import torch

    data, soft = taught.data, taught.soft
    params = []
    for param in student.parameters():
        trainable = param.dim() > 1 or recipe.train_batchnorm
        param.requires_grad_(trainable)
        if trainable:
            params.append(param)
    optimizer: torch.optim.Optimizer
    if recipe.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            params, lr=recipe.learning_rate, momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
        )
    else:
        optimizer = torch.optim.AdamW(
            params, lr=recipe.learning_rate, weight_decay=recipe.weight_decay
        )
    freeze_at = recipe.freeze_observers_step
    if freeze_at is None:
        freeze_at = recipe.steps // 2
    generator = torch.Generator().manual_seed(recipe.seed)
    count = data.shape[0]
    order = torch.randperm(count, generator=generator)
    position = 0
    history: list[float] = []
    student.apply(switch.enable)
    for step in range(recipe.steps):
        if step == freeze_at:
            student.apply(switch.disable)
        if position + recipe.batch_size > count:
            order, position = torch.randperm(count, generator=generator), 0
        index = order[position : position + recipe.batch_size]
        position += recipe.batch_size
        if recipe.horizontal_flip:
            flip = torch.rand(len(index), generator=generator) < 0.5
        else:
            flip = torch.zeros(len(index), dtype=torch.bool)
        mask = flip[:, None, None, None]
        batch = torch.where(mask, data[index].flip(-1), data[index])
        target = torch.where(flip[:, None], soft[True][index], soft[False][index])
        loss = _kl(student(batch), target, recipe.temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
        optimizer.step()
        history.append(float(loss.detach()))
    if freeze_at >= recipe.steps:
        student.apply(switch.disable)
    return history, min(freeze_at, recipe.steps)


def _weight_change(student: Any, initial: dict[str, Any]) -> tuple[float, float]:
    """How much training moved the conv/linear weights (not the scales): the fraction of weights
    that changed at all, and the mean per-tensor relative change."""
    changed = total = 0
    relative = []
    for name, param in student.named_parameters():
        if name not in initial:
            continue
        before = initial[name]
        diff = param.detach() - before
        changed += int((diff != 0).sum())
        total += before.numel()
        relative.append(float(diff.norm() / before.norm().clamp_min(1e-12)))
    return (changed / total if total else 0.0), (sum(relative) / len(relative) if relative else 0.0)
