"""ONNX Runtime sessions on the CPU execution provider, with the same settings for every graph.

``open_session`` is a plain function rather than a method of the adapter, because TensorRT's CPU
simulation runs its Q/DQ graph with exactly these settings and must not borrow another toolchain's
adapter to do so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.toolchains.onnxruntime.recipes import GraphOptimization


class OrtSession:
    """One ``InferenceSession`` and its single input; ``run`` returns the first output."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name: str = session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        outputs = self.session.run(None, {self.input_name: batch})
        return np.asarray(outputs[0])

    def raw_call(self, batch: np.ndarray) -> Callable[[], object]:
        """``session.run`` with the feed dict built once, outside the call."""
        feed = {self.input_name: batch}
        session = self.session

        def call() -> object:
            return session.run(None, feed)

        return call

    def info(self) -> dict[str, Any]:
        """The providers the session really uses (a provider may be dropped at creation)."""
        import onnxruntime as ort

        return {"providers": self.session.get_providers(), "onnxruntime": ort.__version__}


def open_session(path: Path, threads: int, graph_optimization: GraphOptimization) -> OrtSession:
    """A CPU session on ``path``: ``threads`` intra-op threads, one inter-op thread, sequential
    execution, so every ONNX graph of a run is timed under the same thread budget."""
    import onnxruntime as ort

    levels = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = levels[graph_optimization]
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return OrtSession(session)
