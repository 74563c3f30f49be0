"""ONNX Runtime sessions on the CPU execution provider, with the same settings for every graph.

``open_session`` is a plain function rather than a method of the adapter, because TensorRT's CPU
simulation runs its Q/DQ graph with exactly these settings and must not borrow another toolchain's
adapter to do so.

A session may run a Q/DQ graph two ways. Deployed, ONNX Runtime fuses each DequantizeLinear ->
op -> QuantizeLinear group into an integer kernel (``QLinearConv`` ...), whose u8×s8 sums saturate
on x86 without VNNI. In exact arithmetic (``session.disable_quant_qdq=1``) the pairs stay unfused:
every quantized op runs in float between exact quantize/dequantize nodes, which is the arithmetic
the quantizer meant (and TensorRT's 32-bit INT8 accumulation gives). The gap between the two is
what the CPU's kernels cost, apart from what the recipe costs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.results.measurements import RUNS_ON_CPU, Unavailable
from quantarena.toolchains.onnxruntime.recipes import GraphKind, GraphOptimization

#: The session config entry that keeps Q/DQ pairs unfused (ONNX Runtime's
#: ``kOrtSessionOptionsDisableQuantQDQ``).
DISABLE_QUANT_QDQ = "session.disable_quant_qdq"
#: What ``info()`` says an exact-arithmetic session ran.
EXACT_ARITHMETIC = "exact (Q/DQ unfused: float math between exact quantize/dequantize)"

#: Why a graph of this kind has no exact twin (a Q/DQ graph has one).
_NO_TWIN: dict[GraphKind, str] = {
    "fp32": "an FP32 graph has no quantized arithmetic",
    "qoperator": (
        "a QOperator graph has no Q/DQ pairs to keep exact: its quantized ops (QLinearConv ...) "
        "are integer kernels by definition"
    ),
    "dynamic": (
        "a dynamic INT8 graph has no Q/DQ pairs to keep exact: ConvInteger/MatMulInteger quantize "
        "their activations at run time, inside the integer kernels"
    ),
}


class OrtSession:
    """One ``InferenceSession`` and its single input; ``run`` returns the first output.

    It keeps what opened it (file, threads, optimization level, graph kind), so that its exact
    twin is the same file under the same settings with only the arithmetic changed.
    """

    def __init__(
        self,
        session: Any,
        *,
        path: Path,
        threads: int,
        graph_optimization: GraphOptimization,
        kind: GraphKind,
        exact: bool,
    ) -> None:
        self.session = session
        self.input_name: str = session.get_inputs()[0].name
        self.path = path
        self.threads = threads
        self.graph_optimization: GraphOptimization = graph_optimization
        self.kind: GraphKind = kind
        self.exact = exact

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
        """The providers the session really uses (a provider may be dropped at creation), and,
        for an exact-arithmetic session, that its Q/DQ pairs ran unfused."""
        import onnxruntime as ort

        info: dict[str, Any] = {
            "providers": self.session.get_providers(), "onnxruntime": ort.__version__,
        }
        if self.exact:
            info["arithmetic"] = EXACT_ARITHMETIC
        return info

    def exact_twin(self) -> OrtSession | Unavailable:
        """A second session of the same Q/DQ file with the pairs left unfused; ``Unavailable``
        for a graph with nothing to keep exact, or for a session that is already exact."""
        if self.exact:
            return Unavailable(reason="this session already runs in exact arithmetic")
        if self.kind != "qdq":
            return Unavailable(reason=_NO_TWIN[self.kind])
        return open_session(
            self.path, self.threads, self.graph_optimization, kind=self.kind, exact=True
        )

    def gpu(self) -> Unavailable:
        """None: this session runs on the CPU."""
        return RUNS_ON_CPU


def open_session(
    path: Path,
    threads: int,
    graph_optimization: GraphOptimization,
    *,
    kind: GraphKind,
    exact: bool = False,
) -> OrtSession:
    """A CPU session on ``path``: ``threads`` intra-op threads, one inter-op thread, sequential
    execution, so every ONNX graph of a run is timed under the same thread budget.

    ``kind`` is what the caller's recipe says the graph is (it decides the exact twin); ``exact``
    keeps Q/DQ pairs unfused (``session.disable_quant_qdq=1``), so no integer kernel runs.
    """
    import onnxruntime as ort

    options = session_options(threads, graph_optimization)
    if exact:
        options.add_session_config_entry(DISABLE_QUANT_QDQ, "1")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return OrtSession(
        session, path=path, threads=threads, graph_optimization=graph_optimization, kind=kind,
        exact=exact,
    )


def session_options(threads: int, graph_optimization: GraphOptimization) -> Any:
    """``SessionOptions`` every ONNX Runtime session of a run shares, whatever its provider:
    ``threads`` intra-op threads, one inter-op thread, sequential execution, the recipe's graph
    optimization level."""
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
    return options
