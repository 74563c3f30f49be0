"""The runtimes' own batch-1 loops, served over quantarena's timing protocol, so that
``vendor_rounds.py`` can put them in the same interleaved rounds as quantarena's timing workers.

    python benchmarks/vendor_loops.py MODE JOB.json [MEASURE.json]

MODE is one of:

- ``onnxruntime``: ``InferenceSession`` with ``intra_op_num_threads`` = the run's threads, one
  inter-op thread, ``sess.run(None, {input: x})`` — ONNX Runtime's documented CPU loop.
- ``pytorch-eager``: the torchvision architecture with the saved weights, ``torch.set_num_threads``,
  ``model(x)`` under ``torch.inference_mode()``.
- ``pytorch-pt2e``: ``torch.export.load(...).module()`` compiled with Inductor and freezing, as
  torchao's PT2E x86 tutorial deploys a converted program.
- ``openvino-app``: ``benchmark_app``'s own "full" loop (inputs prepared once as tensors
  OpenVINO allocated, ``set_input_tensors`` and ``infer()`` per call), timed by the window
  loop's wall clock instead of OpenVINO's.
- ``openvino-copy-in``: each image copied into one input tensor that
  OpenVINO allocated and set once, then ``infer()``. Both compile the IR as quantarena's session
  does, so only the call differs.
- ``openvino-own-clock``: quantarena's OpenVINO session, timed by the same window loop, but the
  window's median is of OpenVINO's own clock (``InferRequest.latency``, what ``benchmark_app``
  reports) over the same calls: the two tools compared with one clock.
- ``quantarena-pass``: quantarena's own per-variant latency pass (the ``latency_ms`` of a row:
  warm-up until stable, then calls until count, duration and CI target) on the variant's session,
  one full pass per request; its reply's median is the pass's p50.

None of the raw loops imports quantarena to run: only the protocol messages (pydantic) and the
cached images. Each window is timed by the timing worker's own ``time_window`` (same first image,
same warm-up calls, same stopping rule), so what differs is the session around the runtime.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from quantarena.runner.timing_protocol import (
    Failure,
    QuitRequest,
    Ready,
    TimeRequest,
    TimingJob,
    WindowReply,
    parse_request,
)
from quantarena.runner.timing_worker import protocol_channel, time_window

RAW_WARMUP_CALLS = 20  # untimed calls after load, before ``ready``
IMAGES = 64

Run = Callable[[np.ndarray], Any]


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def onnxruntime_loop(job: TimingJob) -> Run:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = job.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(
        str(job.artifact), options, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def pytorch_eager_loop(job: TimingJob) -> Run:
    import torch
    import torchvision

    torch.set_num_threads(job.threads)
    saved = torch.load(job.artifact, map_location="cpu", weights_only=True)
    model = torchvision.models.get_model(saved["arch"], weights=None)
    model.load_state_dict(saved["state_dict"])
    model.eval()

    def run(x: np.ndarray) -> Any:
        with torch.inference_mode():
            return model(torch.from_numpy(x))

    return run


def pytorch_pt2e_loop(job: TimingJob) -> Run:
    import torch
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer  # noqa: F401 - ops, passes

    torch.set_num_threads(job.threads)
    torch._inductor.config.freezing = True
    compiled = torch.compile(torch.export.load(str(job.artifact)).module())

    def run(x: np.ndarray) -> Any:
        with torch.no_grad():
            return compiled(torch.from_numpy(x))

    return run


def _openvino_request(job: TimingJob) -> Any:
    """An infer request on the IR compiled exactly as quantarena's session compiles it (latency
    hint, one stream, the run's threads, f32), so only the call differs."""
    from quantarena.toolchains.openvino.runtime import compile_model

    return compile_model(job.artifact, job.threads).create_infer_request()


def openvino_app_loop(job: TimingJob) -> Run:
    """``benchmark_app``'s own loop in "full" mode (``-inference_only false``): the image copied
    into a tensor OpenVINO allocated beforehand (it prepares its inputs once), that tensor set
    with ``set_input_tensors`` and ``infer()`` called."""
    import openvino as ov

    request = _openvino_request(job)
    owned: dict[int, Any] = {}

    def run(x: np.ndarray) -> Any:
        tensor = owned.get(id(x))
        if tensor is None:
            tensor = owned[id(x)] = ov.Tensor(np.array(x, copy=True))
        request.set_input_tensors({0: tensor})
        return request.infer()

    return run


def openvino_copy_in_loop(job: TimingJob) -> Run:
    """Each image copied into one input tensor OpenVINO allocated and set once, then
    ``infer()``: a caller's new image per call, without handing OpenVINO a new pointer."""
    import openvino as ov

    request = _openvino_request(job)
    own: list[np.ndarray] = []  # the tensor's NumPy view, made on the first call's shape

    def run(x: np.ndarray) -> Any:
        if not own:
            tensor = ov.Tensor(ov.Type.f32, ov.Shape(list(x.shape)))
            request.set_input_tensor(tensor)
            own.append(tensor.data)
        np.copyto(own[0], x)
        request.infer()
        return np.array(request.get_output_tensor(0).data, copy=True)

    return run


LOOPS: dict[str, Callable[[TimingJob], Run]] = {
    "openvino-app": openvino_app_loop,
    "openvino-copy-in": openvino_copy_in_loop,
    "onnxruntime": onnxruntime_loop,
    "pytorch-eager": pytorch_eager_loop,
    "pytorch-pt2e": pytorch_pt2e_loop,
}


def quantarena_pass(job: TimingJob, measure: dict[str, Any]) -> Callable[[], WindowReply]:
    """The per-variant latency pass of a measuring worker, on a session loaded once."""
    from quantarena.config import MeasureConfig
    from quantarena.data.cache import read_head
    from quantarena.measure.latency import measure_latency
    from quantarena.toolchains.registry import recipe_from_payload

    toolchain, recipe = recipe_from_payload(job.recipe)
    session = toolchain.load(job.artifact, recipe, job.threads)
    images = read_head(job.evaluation, IMAGES)
    config = MeasureConfig.model_validate(measure)

    def one_pass() -> WindowReply:
        cpu0, start = _cpu_seconds(), time.perf_counter()
        latency = measure_latency(session.run, images, config)
        return WindowReply(
            median_ms=latency.p50, calls=latency.iterations,
            seconds=time.perf_counter() - start, cpu_s=_cpu_seconds() - cpu0,
        )

    return one_pass


def openvino_own_clock(job: TimingJob) -> Callable[[TimeRequest], WindowReply]:
    """Windows of quantarena's OpenVINO ``session.run`` whose median is OpenVINO's own
    ``InferRequest.latency`` of the timed calls (the warm-up calls' readings are dropped)."""
    from quantarena.data.cache import read_head
    from quantarena.toolchains.registry import recipe_from_payload

    toolchain, recipe = recipe_from_payload(job.recipe)
    session: Any = toolchain.load(job.artifact, recipe, job.threads)
    images = read_head(job.evaluation, IMAGES)
    inputs = [np.ascontiguousarray(images[i : i + 1]) for i in range(len(images))]
    readings: list[float] = []

    def run(x: np.ndarray) -> Any:
        out = session.run(x)
        readings.append(float(session.request.latency))
        return out

    for i in range(RAW_WARMUP_CALLS):
        run(inputs[i % len(inputs)])

    def serve(request: TimeRequest) -> WindowReply:
        readings.clear()
        reply = time_window(run, inputs, request)
        timed = readings[-reply.calls:]
        return reply.model_copy(update={"median_ms": float(np.median(timed))})

    return serve


def main(argv: list[str]) -> int:
    mode, job_path = argv[0], Path(argv[1])
    replies = protocol_channel()
    job = TimingJob.model_validate_json(job_path.read_text())

    def send(message: Ready | WindowReply | Failure) -> None:
        replies.write(message.model_dump_json() + "\n")

    start = time.perf_counter()
    try:
        if mode == "quantarena-pass":
            measure = json.loads(Path(argv[2]).read_text())
            one_pass = quantarena_pass(job, measure)

            def serve(_request: TimeRequest) -> WindowReply:
                return one_pass()
        elif mode == "openvino-own-clock":
            serve = openvino_own_clock(job)
        else:
            from quantarena.data.cache import read_head

            images = read_head(job.evaluation, IMAGES)
            inputs = [np.ascontiguousarray(images[i : i + 1]) for i in range(len(images))]
            run = LOOPS[mode](job)
            for i in range(RAW_WARMUP_CALLS):
                run(inputs[i % len(inputs)])

            def serve(request: TimeRequest) -> WindowReply:
                return time_window(run, inputs, request)
    except Exception as exc:  # noqa: BLE001 - the driver must always get an answer
        send(Failure(reason=f"{type(exc).__name__}: {exc}"[:500]))
        return 0
    send(Ready(load_seconds=time.perf_counter() - start, warmup_calls=RAW_WARMUP_CALLS,
               warmup_stable=True, rss_mb=psutil.Process().memory_info().rss / 2**20))
    for line in sys.stdin:  # blocks in read(2) between windows
        if not line.strip():
            continue
        request = parse_request(line)
        if isinstance(request, QuitRequest):
            break
        send(serve(request))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
