"""Compiling and running IR on the CPU plugin with settings that are the same for every variant.

FP32 and INT8 compile with one configuration: the run's thread count, one stream, the latency
hint, and the f32 inference-precision hint. Without that hint the CPU plugin picks bf16 on CPUs
with AVX512_BF16 or AMX, so an "FP32" row would silently measure bf16 (and INT8 models would run
their non-quantized layers in bf16). ``OvSession.info`` reads the settings back from the compiled
model, so the results show what really ran rather than what was asked for.

``OvSession.exact_twin`` compiles the same IR with its FakeQuantize ops written out as float
arithmetic (see ``exact``), with this same configuration, so the twin differs from its session
only in how the quantized arithmetic is executed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.results.measurements import RUNS_ON_CPU, Unavailable

#: ``info()["arithmetic"]`` of an exact twin (the other toolchains' twins say it the same way)
EXACT_ARITHMETIC = (
    "exact: FakeQuantize as its specification's f32 ops, int8 weights widened to f32, "
    "no integer kernels"
)

#: Settings shared by every OpenVINO variant (threads come from the run).
STREAMS = 1
PERFORMANCE_HINT = "LATENCY"
INFERENCE_PRECISION = "f32"


def compile_config(threads: int | None) -> dict[str, Any]:
    """``threads=None`` leaves the thread count to OpenVINO (build-time validation only)."""
    import openvino as ov
    import openvino.properties as props
    import openvino.properties.hint as hints

    config: dict[str, Any] = {
        props.num_streams: STREAMS,
        hints.performance_mode: hints.PerformanceMode.LATENCY,
        hints.inference_precision: ov.Type.f32,
    }
    if threads is not None:
        config[props.inference_num_threads] = threads
    return config


def compile_model(model: Any, threads: int | None = None) -> Any:
    """``model`` is an ``ov.Model`` or a path to an ``.xml``; returns an ``ov.CompiledModel``."""
    import openvino as ov

    source = str(model) if isinstance(model, Path) else model
    return ov.Core().compile_model(source, "CPU", compile_config(threads))


def save_ir(model: Any, xml: Path) -> None:
    """Write ``.xml`` + ``.bin``, keeping FP32 constants FP32 (``save_model`` halves them by
    default, which would make the FP32 variant an FP16-weights model)."""
    import openvino as ov

    ov.save_model(model, str(xml), compress_to_fp16=False)


class OvSession:
    """One infer request on a compiled model; ``run`` returns a copy of the logits because the
    request reuses its output buffer on the next call.

    ``artifact`` and ``threads`` are kept so that ``exact_twin`` can compile the same IR the same
    way; ``exact`` marks a session that is itself a twin.

    ``run`` shares the caller's array with the request. Copying batch-1 inputs into a tensor
    OpenVINO allocated, set once, was tried (2026-11-24) and reverted: alternated in one process
    (``benchmarks/openvino_clock.py``, 2-core AMD EPYC with AVX-512 VNNI) it saved 1.2% per FP32
    call and cost 1.3% per INT8 call, the 602 KB copy taking what the new buffer cost.
    """

    def __init__(
        self, compiled: Any, *, artifact: Path | None = None, threads: int | None = None,
        exact: bool = False,
    ) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.artifact = artifact
        self.threads = threads
        self.exact = exact

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)}, share_inputs=True)
        return np.array(self.request.get_output_tensor(0).data, copy=True)

    def raw_call(self, batch: np.ndarray) -> Callable[[], object]:
        """``infer`` on a fresh infer request (so ``run``'s request and its shared input are not
        disturbed), with the batch made contiguous float32 once, outside the call."""
        request = self.compiled.create_infer_request()
        ready = np.ascontiguousarray(batch, dtype=np.float32)

        def call() -> object:
            return request.infer({0: ready})

        return call

    def info(self) -> dict[str, Any]:
        """What the compiled model reports it runs with (not what was requested)."""
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        compiled = self.compiled

        def read(name: Any) -> Any:
            try:
                return compiled.get_property(name)
            except RuntimeError:  # property not reported by this plugin version
                return None

        precision = read(hints.inference_precision)
        mode = read(hints.execution_mode)
        return {
            "openvino": ov.get_version(),
            "execution_devices": read(props.execution_devices),
            "inference_precision": precision.get_type_name() if precision is not None else None,
            "inference_num_threads": read(props.inference_num_threads),
            "num_streams": read(props.num_streams),
            "performance_hint": str(read(hints.performance_mode)),
            "execution_mode": getattr(mode, "name", mode),
            "compute_layer_precisions": compute_layer_precisions(compiled),
            **({"arithmetic": EXACT_ARITHMETIC} if self.exact else {}),
        }

    def exact_twin(self) -> OvSession | Unavailable:
        """The IR with every FakeQuantize as its specification's float arithmetic and int8
        weights widened to f32 (``exact.exact_model``), compiled with the same settings: the
        recipe's quantization grid without the CPU's integer kernels; ``Unavailable`` for an
        FP32 IR, and for a session that is already a twin."""
        from quantarena.toolchains.openvino.exact import NotExact, exact_model, is_quantized

        if self.exact:
            return Unavailable(reason="this session already runs in exact arithmetic")
        if self.artifact is None:
            return Unavailable(reason="this session was compiled from no IR file to rewrite")
        import openvino as ov

        model = ov.Core().read_model(str(self.artifact))
        if not is_quantized(model):
            return Unavailable(reason="an FP32 graph has no quantized arithmetic")
        try:
            twin = exact_model(model)
        except NotExact as exc:
            return Unavailable(reason=f"no exact twin: {exc}")
        return OvSession(
            compile_model(twin, self.threads), artifact=self.artifact, threads=self.threads,
            exact=True,
        )

    def gpu(self) -> Unavailable:
        """None: this session runs on the CPU."""
        return RUNS_ON_CPU


def load(artifact: Path, threads: int) -> OvSession:
    """Read the IR and compile it (the harness times this as load time)."""
    return OvSession(compile_model(artifact, threads), artifact=artifact, threads=threads)


#: Layer types of the compiled (runtime) graph that carry the model's arithmetic.
_COMPUTE_LAYERS = {"Convolution", "GroupConvolution", "Deconvolution", "FullyConnected", "MatMul"}


def compute_layer_precisions(compiled: Any) -> dict[str, int]:
    """How many compute layers the plugin runs in each precision, e.g. ``{"u8": 53}``: the proof
    that INT8 layers run as integers and that nothing fell back to bf16."""
    counts: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "layerType" not in info or info["layerType"].astype(str) not in _COMPUTE_LAYERS:
            continue
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
        counts[precision] = counts.get(precision, 0) + 1
    return dict(sorted(counts.items()))


def top1(compiled: Any, images: np.ndarray, labels: np.ndarray, batch: int = 16) -> float:
    """Top-1 accuracy of a compiled model on preprocessed images."""
    request = compiled.create_infer_request()
    correct = 0
    for start in range(0, len(images), batch):
        chunk = np.ascontiguousarray(images[start : start + batch], dtype=np.float32)
        logits = request.infer({0: chunk})[compiled.output(0)]
        correct += int(np.sum(np.argmax(logits, axis=1) == labels[start : start + batch]))
    return correct / max(1, len(images))
