"""Quantization-aware training with PT2E, distilled from the FP32 model, then INT8 via Inductor.

Only calibration images are used (never evaluation images) and no labels: the FP32 model is the
teacher and the loss is the KL divergence between its logits and the fake-quantized student's.
That makes QAT possible with a few dozen unlabeled images, and keeps the accuracy comparison
honest. The result is saved like ``int8-pt2e`` and loads through the same Inductor path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import Built
from quantarena.toolchains.pytorch import _common, _export, _pt2e
from quantarena.toolchains.pytorch.facts import QatSeconds, TorchQatInt8Facts
from quantarena.toolchains.pytorch.recipes import TorchQatInt8

#: Steps averaged for the reported start and end training loss.
LOSS_WINDOW = 10


def build(
    bundle: ModelBundle, recipe: TorchQatInt8, calibration: ImageArray, workdir: Path
) -> Built:
    import numpy as np
    import torch
    import torchao
    from torchao.quantization import pt2e
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

    # Sub-step clocks: where the build's time went is a fact (the adapter times the whole build).
    started = time.perf_counter()
    notes: list[str] = []
    torch.manual_seed(recipe.seed)
    images = _common.select_images(calibration, recipe.calibration_images)
    example = _common.example_inputs(images)
    data = torch.from_numpy(np.array(images.images, dtype=np.float32))
    target = workdir / "model.int8-qat.pt2"
    remedy = _pt2e.resolve_reduce_range(recipe.reduce_range)
    reduce_range = bool(remedy.value)
    with _common.captured_warnings(notes):
        teacher = _common.fp32_module(bundle)
        with torch.no_grad():
            # Teacher logits for every image and its mirror image, computed once.
            soft = {False: teacher(data), True: teacher(data.flip(-1))}
        quantizer, config = _pt2e.x86_quantizer(is_qat=True, reduce_range=reduce_range)
        captured = _export.export_dynamic(_common.fp32_module(bundle).train(), example).module()
        student = prepare_qat_pt2e(captured, quantizer)
        prepared = time.perf_counter()
        # Batch norm on running statistics from step 0; dropout off.
        pt2e.move_exported_model_to_eval(student)
        _common.calibrate(student, images, recipe.batch_size)  # initialize observer ranges
        initial = {n: p.detach().clone() for n, p in student.named_parameters() if p.dim() > 1}
        loss_before = _full_loss(student, data, soft[False], recipe.temperature)
        training_started = time.perf_counter()
        history, frozen_at = _train(student, data, soft, recipe)
        trained = time.perf_counter()
        loss_after = _full_loss(student, data, soft[False], recipe.temperature)
        changed_fraction, relative_change = _weight_change(student, initial)
        converted = convert_pt2e(student)
        dropped = _pt2e.save_converted(converted, example, target)
    window = max(1, min(LOSS_WINDOW, len(history) // 4))
    activations, weights = _pt2e.describe_config(config)
    facts = TorchQatInt8Facts(
        quantized_engine=_pt2e.KERNELS,
        flow="torch.export (train), prepare_qat_pt2e, distill, convert_pt2e, torch.export.save",
        quantizer="torchao X86InductorQuantizer, "
        f"get_default_x86_inductor_quantization_config(is_qat=True, reduce_range={reduce_range})",
        activations=activations,
        weights=weights,
        fp32_tensors_dropped=len(dropped),
        compiler=_pt2e.compiler(recipe.freezing),
        saturation_remedy=_pt2e.remedy_fact(remedy, activations),
        teacher="FP32 model (same weights), KL divergence on logits, no labels",
        trained="conv/linear weights and batch-norm scale/shift" if recipe.train_batchnorm
        else "conv/linear weights (batch-norm scale/shift fixed)",
        augmentation="random horizontal flip" if recipe.horizontal_flip else "none",
        loss_start=float(np.mean(history[:window])),
        loss_end=float(np.mean(history[-window:])),
        loss_window_steps=window,
        loss_all_images_before=loss_before,
        loss_all_images_after=loss_after,
        loss_history=[round(v, 6) for v in history],
        weights_changed_fraction=changed_fraction,
        weights_mean_relative_change=relative_change,
        observers_frozen_at_step=frozen_at,
        batchnorm_frozen_at_step=0,
        seconds=QatSeconds(
            export_and_prepare=round(prepared - started, 2),
            training=round(trained - training_started, 2),
            convert_and_save=round(time.perf_counter() - trained, 2),
        ),
        torch=torch.__version__,
        torchao=torchao.__version__,
    )
    return Built(target, facts, calibration_images=len(images), notes=notes)


def _kl(student_logits: Any, teacher_logits: Any, temperature: float) -> Any:
    import torch.nn.functional as F

    return F.kl_div(
        F.log_softmax(student_logits / temperature, dim=1),
        F.log_softmax(teacher_logits / temperature, dim=1),
        log_target=True,
        reduction="batchmean",
    ) * temperature**2


def _full_loss(student: Any, data: Any, teacher_logits: Any, temperature: float) -> float:
    """Distillation loss on every (unflipped) training image. Observers are switched off first so
    that measuring changes nothing (``_train`` switches them on again)."""
    import torch
    from torchao.quantization import pt2e

    student.apply(pt2e.disable_observer)
    with torch.no_grad():
        loss = float(_kl(student(data), teacher_logits, temperature))
    return loss


def _train(
    student: Any, data: Any, soft: dict[bool, Any], recipe: TorchQatInt8
) -> tuple[list[float], int]:
    """Fine-tune; returns the loss of every step and the step at which observers froze."""
    import torch
    from torchao.quantization import pt2e

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
    student.apply(pt2e.enable_observer)
    for step in range(recipe.steps):
        if step == freeze_at:
            student.apply(pt2e.disable_observer)
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
        student.apply(pt2e.disable_observer)
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
