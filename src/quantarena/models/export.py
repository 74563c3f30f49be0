"""FP32 ONNX export with a dynamic batch axis, and a check that the export matches the module."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.errors import ModelError

ONNX_OPSET = 17


def export_onnx(module: Any, input_shape: tuple[int, int, int], path: Path) -> None:
    """Export ``module`` to a single-file ONNX model (input ``input``, output ``logits``).

    The TorchScript-based exporter is used because it folds BatchNorm into Conv and writes one
    self-contained file, which is what every ONNX consumer (ONNX Runtime quantization, OpenVINO,
    ModelOpt, TensorRT) handles best; the dynamo exporter is the fallback.
    """
    import torch

    example = torch.randn(2, *input_shape)
    common: dict[str, Any] = {"input_names": ["input"], "output_names": ["logits"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=False,
                opset_version=ONNX_OPSET,
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                **common,
            )
        except TypeError:  # an exporter without the legacy path
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=True,
                external_data=False,
                dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
                **common,
            )


def max_abs_difference(module: Any, onnx_path: Path, batch: np.ndarray) -> float:
    """Largest |logit difference| between the torch module and ONNX Runtime on ``batch``."""
    import onnxruntime as ort
    import torch

    with torch.inference_mode():
        expected = module(torch.from_numpy(batch)).numpy()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: batch})[0]
    if got.shape != expected.shape:
        raise ModelError(f"ONNX export gives shape {got.shape}, the module {expected.shape}")
    return float(np.max(np.abs(got - expected)))
