"""The system under test LoadGen drives: around a variant's session, batching dynamically as a real
server does.

Every call runs on the thread that loaded the session and ran every other meter: some runtimes
are not the same from another thread (PyTorch's eager CPU calls took about twice as long from a
second Python thread here, with the same threads setting), and the serving figures must be
comparable with the batch-1 and throughput passes. LoadGen issues queries on the thread that
started its test, so two shapes keep that rule:

- ``inline`` (SingleStream, MultiStream, Offline, accuracy mode): the test starts on the
  session's thread and ``issue`` answers each query as LoadGen issues it;
- queued (Server): LoadGen runs on a side thread, ``issue`` only queues the query, and the loop
  (``serve``) on the session's thread takes up to ``max_batch`` samples, waiting at most
  ``max_wait_s`` after the oldest one for more.

Either way a batch's inputs come from the sample library inside the timed path, the session
runs, and each sample is answered with its top-1 class (LoadGen's accuracy log stores it).
Every scenario runs through this same code, in performance and accuracy mode alike.
"""

from __future__ import annotations

import os
import queue
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import numpy as np

from quantarena.serving.qsl import SampleLibrary

RunFn = Callable[[np.ndarray], Any]
#: the interpreter's switch interval while the SUT spins (default 5 ms: a query's hand-over
#: could wait that long for the GIL)
SPIN_SWITCH_S = 5e-5
#: LoadGen's (id, index) of one query sample
Pending = tuple[int, int]
#: samples of a many-sample query (Offline, accuracy mode) ranked and answered together: one
#: ``top1_of`` and one ``QuerySamplesComplete`` per chunk instead of per batch, so at batch 1 the
#: serving path adds 7–24 µs per sample around the session call instead of ~30–70
#: (``benchmarks/scenario_vs_pass.py --scenario offline``, 2-core AMD EPYC with AVX-512 VNNI)
ANSWER_CHUNK = 256


class BatchingSut:
    """``pad``: fill every batch up to ``max_batch`` by repeating its first image, so the runtime
    sees one batch shape (as in the accuracy pass); off for Server, whose batches vary.

    ``inline``: answer each query inside ``issue``, on the thread LoadGen issues from, in batches
    of ``max_batch``. LoadGen issues on the thread that started the test, so when that is the
    session's own thread, a query reaches the model with no hand-over between threads: nothing
    waits, nothing wakes. Right for the scenarios that issue the next query only once the last
    is answered (SingleStream, MultiStream) or all at once (Offline, accuracy mode); not for
    Server, whose arrivals must not wait for the model. ``serve`` is then never called.

    ``spin``: wait for the next query by polling instead of sleeping on the queue. A sleeping
    serving thread lets its core go idle, and on a VM the first call after an idle gap runs
    slower (``benchmarks/idle_gaps.py``, 2-core EPYC with AVX-512 VNNI: PT2E 2.4 ms back to
    back, 15.2 ms after a 60 ms sleep, 3.9 ms after a 60 ms spin). Polling keeps the core
    busy at the cost of that core while idle, as latency-tuned servers choose to. Each poll
    releases the GIL (``os.sched_yield``, which returns at once; ``time.sleep(0)`` sleeps
    ~70 µs here, so the core would still idle), and while spinning the interpreter's switch
    interval is ``SPIN_SWITCH_S``, so LoadGen's issuing thread, which needs the GIL to hand
    over a query, waits at most that long for it rather than the default 5 ms.
    """

    def __init__(
        self, run: RunFn, library: SampleLibrary, *, max_batch: int, max_wait_s: float,
        pad: bool = False, spin: bool = False, inline: bool = False,
    ) -> None:
        self.run, self.library = run, library
        self.max_batch, self.max_wait_s, self.pad = max_batch, max_wait_s, pad
        self.spin, self.inline = spin, inline
        self.batches: Counter[int] = Counter()
        #: seconds of each session call (inputs built before): what the model itself took
        self.inference_seconds: list[float] = []
        #: seconds building each batch's inputs (gathering cached images or decoding JPEGs,
        #: padding): the serving path's share that no throughput pass pays
        self.input_seconds: list[float] = []
        self.error: BaseException | None = None
        self._queries: queue.Queue[list[Pending] | None] = queue.Queue()

    # LoadGen's callbacks -------------------------------------------------------------------
    def issue(self, samples: list[Any]) -> None:
        query = [(s.id, s.index) for s in samples]
        if not self.inline:
            self._queries.put(query)
            return
        if len(query) <= self.max_batch:
            self._answer(query)
            return
        # Offline, accuracy mode: all samples come in one query, so answering them a chunk at a
        # time delays nothing LoadGen waits for; a chunk is whole batches (only the last is short)
        chunk = -(-ANSWER_CHUNK // self.max_batch) * self.max_batch
        for start in range(0, len(query), chunk):
            self._answer(query[start : start + chunk])

    @property
    def idle(self) -> str:
        """How a query reaches the model, as the results record it: ``inline`` (on LoadGen's
        issuing thread), else how the serving thread waits for it (``spin`` or ``sleep``)."""
        return "inline" if self.inline else "spin" if self.spin else "sleep"

    def flush(self) -> None:
        """Nothing is held back between calls: every sample is answered once its batch ran."""

    # --------------------------------------------------------------------------------------
    def close(self) -> None:
        """End ``serve`` once every query issued before is answered (called when LoadGen's test
        returns, from its thread)."""
        self._queries.put(None)

    def serve(self) -> None:
        """Answer queries until ``close``; run on the session's own thread."""
        if not self.spin:
            self._serve()
            return
        interval = sys.getswitchinterval()
        sys.setswitchinterval(SPIN_SWITCH_S)
        try:
            self._serve()
        finally:
            sys.setswitchinterval(interval)

    def _serve(self) -> None:
        pending: deque[Pending] = deque()
        while True:
            if not pending:
                query = self._get(None)
                if query is None:
                    return
                pending.extend(query)
            oldest = time.perf_counter()
            if not self._gather(pending, oldest):
                self._answer([pending.popleft() for _ in range(min(len(pending), self.max_batch))])
                return
            self._answer([pending.popleft() for _ in range(min(len(pending), self.max_batch))])

    def _gather(self, pending: deque[Pending], oldest: float) -> bool:
        """Pull queries already waiting (and, with ``max_wait_s``, those arriving in time) until
        the batch is full; False once ``close`` was asked for."""
        while len(pending) < self.max_batch:
            left = oldest + self.max_wait_s - time.perf_counter()
            try:
                query = self._get(left) if left > 0 else self._queries.get_nowait()
            except queue.Empty:
                return True
            if query is None:
                return False
            pending.extend(query)
        return True

    def _get(self, timeout: float | None) -> list[Pending] | None:
        """The next query (``None``: ``close``), waiting at most ``timeout`` s (``None``: for
        ever) by sleeping on the queue, or with ``spin`` by polling it; ``queue.Empty`` when the
        time ran out."""
        if not self.spin:
            return self._queries.get(timeout=timeout)
        until = None if timeout is None else time.perf_counter() + timeout
        while True:
            try:
                return self._queries.get_nowait()
            except queue.Empty:
                if until is not None and time.perf_counter() >= until:
                    raise
                os.sched_yield()  # releases the GIL and returns at once: the core stays busy

    def _answer(self, samples: list[Pending]) -> None:
        """Run ``samples`` in batches of at most ``max_batch``, rank them all, answer them all."""
        import mlperf_loadgen as lg

        if not samples:
            return
        top1 = np.full(len(samples), -1, dtype=np.int64)
        if self.error is None:
            try:
                logits: np.ndarray | None = None
                for start in range(0, len(samples), self.max_batch):
                    rows = self._infer(samples[start : start + self.max_batch])
                    if logits is None:
                        logits = np.empty((len(samples), *rows.shape[1:]), dtype=rows.dtype)
                    logits[start : start + len(rows)] = rows  # the session may reuse its buffer
                if logits is not None:
                    top1[:] = top1_of(logits)
            # an interrupt too: inline it would unwind through LoadGen's C++ code, queued it
            # would leave LoadGen waiting for answers; every later query is answered at once
            except BaseException as exc:  # noqa: BLE001 - LoadGen must get its answers to finish
                self.error = exc
        base = top1.ctypes.data
        responses = [
            lg.QuerySampleResponse(sample_id, base + i * top1.itemsize, top1.itemsize)
            for i, (sample_id, _) in enumerate(samples)
        ]
        lg.QuerySamplesComplete(responses)  # LoadGen copies the data before it returns

    def _infer(self, batch: list[Pending]) -> np.ndarray:
        """One session call on ``batch``'s inputs (padded with ``pad``): its logits' rows."""
        built = time.perf_counter()
        inputs = self.library.inputs([index for _, index in batch])
        if self.pad and len(batch) < self.max_batch:
            filler = np.repeat(inputs[:1], self.max_batch - len(batch), axis=0)
            inputs = np.concatenate([inputs, filler])
        inputs = np.ascontiguousarray(inputs)
        start = time.perf_counter()
        self.input_seconds.append(start - built)
        logits = np.asarray(self.run(inputs))
        self.inference_seconds.append(time.perf_counter() - start)
        self.batches[len(batch)] += 1
        return logits[: len(batch)]


def top1_of(logits: np.ndarray) -> np.ndarray:
    """Each row's top-1 class exactly as the accuracy pass ranks (``argsort(-logits)[:, 0]``),
    in a tenth of its time (21 vs 204 µs for 32 × 1000 logits): ``argmax``, with the rows whose
    maximum is tied or NaN (where the two can differ) ranked by ``argsort`` itself."""
    best: np.ndarray = logits.argmax(axis=1)
    peak = logits[np.arange(len(logits)), best]
    odd = np.isnan(peak) | ((logits == peak[:, None]).sum(axis=1) > 1)
    if odd.any():
        best[odd] = np.argsort(-logits[odd], axis=1)[:, 0]
    return best
