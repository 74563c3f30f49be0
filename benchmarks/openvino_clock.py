"""How much of an OpenVINO call lies outside OpenVINO's own clock?

``benchmark_app`` reports ``InferRequest.latency``, a timer inside OpenVINO; quantarena times the
whole ``session.run`` with Python's clock, as a caller waits for it. In one process, on the same
calls (quantarena's session, one new real image per call, as the latency pass feeds it), this
reads both clocks and prints their medians and the per-call difference, for the session's call
(``infer({0: array}, share_inputs=True)``), for a pre-built shared ``ov.Tensor`` handed over
with ``set_input_tensor``, and for a copy into an input tensor OpenVINO allocated, set once
(blocks alternated, so machine drift lands on every form).

    .venv/bin/python benchmarks/openvino_clock.py --run runs/demo

Run it on a quiet machine: it is one measurement.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.data.cache import read_head
from quantarena.toolchains.registry import recipe_from_payload
from run_artifacts import RunArtifacts

IMAGES = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="a finished run")
    parser.add_argument("--variants", default="openvino:fp32,openvino:int8")
    parser.add_argument("--blocks", type=int, default=12, help="alternated blocks per call form")
    parser.add_argument("--calls", type=int, default=400, help="calls per block")
    args = parser.parse_args()
    import openvino as ov

    run = RunArtifacts.read(args.run, args.variants.split(","))
    print("median ms per block, median over blocks; outside = Python's clock minus OpenVINO's")
    for name, (_, job) in run.jobs.items():
        toolchain, recipe = recipe_from_payload(job.recipe)
        session: Any = toolchain.load(job.artifact, recipe, job.threads)
        request = session.request
        shared_request = session.compiled.create_infer_request()  # leaves session.run's alone
        images = read_head(job.evaluation, IMAGES)
        inputs = [np.ascontiguousarray(images[i : i + 1]) for i in range(len(images))]

        def tensor_call(x: np.ndarray, request: Any = shared_request) -> Any:
            request.set_input_tensor(ov.Tensor(x, shared_memory=True))
            request.infer()
            return np.array(request.get_output_tensor(0).data, copy=True)

        own_request = session.compiled.create_infer_request()
        own = ov.Tensor(ov.Type.f32, ov.Shape(list(inputs[0].shape)))
        own_request.set_input_tensor(own)

        def copy_call(x: np.ndarray, request: Any = own_request, own: Any = own.data) -> Any:
            np.copyto(own, x)
            request.infer()
            return np.array(request.get_output_tensor(0).data, copy=True)

        forms: dict[str, Callable[[np.ndarray], Any]] = {
            "session.run (infer dict)": session.run, "shared ov.Tensor": tensor_call,
            "copy into own tensor": copy_call,
        }
        for form in (tensor_call, copy_call):
            np.testing.assert_array_equal(form(inputs[0]), session.run(inputs[0]))
        requests = {"session.run (infer dict)": request, "shared ov.Tensor": shared_request,
                    "copy into own tensor": own_request}
        python: dict[str, list[float]] = {k: [] for k in forms}
        own: dict[str, list[float]] = {k: [] for k in forms}
        outside: dict[str, list[float]] = {k: [] for k in forms}
        for block in range(args.blocks + 1):
            for label in (list(forms) if block % 2 else list(forms)[::-1]):
                py, ov_ms = [], []
                for i in range(args.calls):
                    t0 = time.perf_counter()
                    forms[label](inputs[i % len(inputs)])
                    py.append((time.perf_counter() - t0) * 1e3)
                    ov_ms.append(float(requests[label].latency))
                if block == 0:
                    continue  # warm-up block
                python[label].append(statistics.median(py))
                own[label].append(statistics.median(ov_ms))
                outside[label].append(statistics.median(a - b for a, b in zip(py, ov_ms,
                                                                               strict=True)))
        print(name)
        for label in forms:
            p, o = statistics.median(python[label]), statistics.median(own[label])
            print(f"  {label:<26} Python {p:.3f}  OpenVINO {o:.3f}  outside "
                  f"{statistics.median(outside[label]) * 1e3:.0f} us ({p / o - 1:+.1%})")


if __name__ == "__main__":
    main()
