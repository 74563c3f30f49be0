"""Timing worker entry point: ``python -m quantarena.runner.timing_worker JOB.json``.

One per variant in the interleaved rounds: it loads the artifact once (through the toolchain's
``load``, with the run's threads and pinning, as every worker does), warms it up, then serves
``time`` requests on stdin until ``quit`` (``runner.timing_protocol``). Keeping it loaded is what
makes rounds cheap enough to repeat, and one runtime per process keeps the runtimes' thread pools
from meeting in one address space.

Its stdout carries the protocol only: file descriptor 1 is pointed at the log (stderr) before any
runtime is imported, so a runtime printing from C cannot corrupt a reply.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from quantarena.errors import QuantarenaError, first_line
from quantarena.runner.lifeline import expected_parent, guard_parent
from quantarena.runner.timing_protocol import (
    Failure,
    QuitRequest,
    Ready,
    TimeRequest,
    TimingJob,
    WarmUpRequest,
    WindowReply,
    parse_request,
)
from quantarena.runner.worker import TIMING_IMAGES, apply_pinning


def protocol_channel() -> IO[str]:
    """A private duplicate of stdout for replies; fd 1 itself then points at stderr (the log)."""
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    return channel


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _age_seconds() -> float:
    """Seconds since this process started (the kernel's start time, 10 ms resolution)."""
    import psutil

    return max(time.time() - psutil.Process().create_time(), 0.0)


class Timer:
    """A loaded session and its real batch-1 inputs; ``window`` times one request."""

    def __init__(self, job: TimingJob) -> None:
        from quantarena.data.cache import read_head
        from quantarena.measure.latency import LATENCY_IMAGES
        from quantarena.measure.memory import rss_mb
        from quantarena.toolchains.registry import recipe_from_payload

        toolchain, recipe = recipe_from_payload(job.recipe)
        images = read_head(job.evaluation, min(TIMING_IMAGES, LATENCY_IMAGES))
        self.inputs = [np.ascontiguousarray(images[i : i + 1]) for i in range(len(images))]
        start = time.perf_counter()
        self.session = toolchain.load(job.artifact, recipe, job.threads)
        self.load_seconds = time.perf_counter() - start
        self.warmup_max_seconds = job.warmup_max_seconds
        self.ready = (self.warm() if job.warm_up_at_load else Ready(
            load_seconds=self.load_seconds, warmup_calls=0, warmup_stable=False, rss_mb=rss_mb(),
            age_seconds=_age_seconds(),
        ))

    def warm(self) -> Ready:
        """Warm up until stable (``measure.latency.warm_up``); ``ready`` with what it took."""
        from quantarena.measure.latency import warm_up
        from quantarena.measure.memory import rss_mb

        warm = warm_up(self.session.run, self.inputs, self.warmup_max_seconds)
        return Ready(
            load_seconds=self.load_seconds, warmup_calls=warm.iterations,
            warmup_stable=warm.stable, rss_mb=rss_mb(), age_seconds=_age_seconds(),
        )

    def window(self, request: TimeRequest) -> WindowReply:
        return time_window(self.session.run, self.inputs, request)


def time_window(
    run: Callable[[np.ndarray], object], inputs: list[np.ndarray], request: TimeRequest
) -> WindowReply:
    """One window: every window starts from the same first image, so windows differ only in
    time (``benchmarks/vendor_loops.py`` times the runtimes' own loops with it too)."""
    for i in range(request.warmup_calls):
        run(inputs[i % len(inputs)])
    times: list[float] = []
    cpu0 = _cpu_seconds()
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        run(inputs[len(times) % len(inputs)])
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        if len(times) >= request.min_calls and elapsed >= request.min_seconds:
            break
    return WindowReply(
        median_ms=float(np.median(times)) * 1000.0, calls=len(times),
        seconds=time.perf_counter() - start, cpu_s=_cpu_seconds() - cpu0,
    )


def _failure(exc: BaseException) -> Failure:
    if isinstance(exc, QuantarenaError):
        return Failure(reason=first_line(exc))
    if isinstance(exc, MemoryError):
        return Failure(reason="ran out of memory")
    traceback.print_exc(file=sys.stderr)
    text = f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__
    return Failure(reason=text[:500])


def serve(job: TimingJob, requests: IO[str], replies: IO[str]) -> int:
    """Load, say ready (or why not), then answer requests until ``quit`` or end of input."""

    def send(message: Ready | WindowReply | Failure) -> None:
        replies.write(message.model_dump_json() + "\n")
        replies.flush()

    try:
        timer = Timer(job)
    except Exception as exc:  # noqa: BLE001 - the runner must always get an answer
        send(_failure(exc))
        return 0
    send(timer.ready)
    for line in requests:  # blocks in read(2) between windows: no CPU
        if not line.strip():
            continue
        request = parse_request(line)
        if isinstance(request, QuitRequest):
            break
        try:
            send(timer.warm() if isinstance(request, WarmUpRequest) else timer.window(request))
        except Exception as exc:  # noqa: BLE001
            send(_failure(exc))
            return 0
    return 0


def main(argv: list[str]) -> int:
    guard_parent(expected_parent())  # first: an orphaned timing worker must not keep a core
    apply_pinning()
    replies = protocol_channel()
    job = TimingJob.model_validate_json(Path(argv[0]).read_text())
    return serve(job, sys.stdin, replies)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
