"""The runner's side of one timing worker: start it with every worker's environment (threads,
pinning, allocator, lifeline), wait for ``ready``, ask for windows, read its CPU time, stop it.

Every wait has a timeout (the run's ``measure_timeout``) and is interruptible by the run's stop
signal; whatever happens, ``close`` leaves no process behind (the worker leads its own process
group, which is killed as a whole when it does not quit when asked).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import IO

import psutil

from quantarena.runner.launcher import Launcher, describe_exit, worker_env
from quantarena.runner.timing_protocol import (
    Failure,
    QuitRequest,
    Ready,
    TimeRequest,
    TimingJob,
    WarmUpRequest,
    WindowReply,
    parse_reply,
)

#: seconds a worker gets to exit after ``quit`` before its process group is killed
QUIT_GRACE_S = 5.0
#: How long a worker's list of child processes is reused by ``cpu_seconds``. Listing them scans
#: every process on the machine (about 1.5 ms); the rounds read all waiting workers' CPU around
#: each window, which made that scan a fifth of a round's overhead. Runtimes start their helper
#: processes (Inductor's compile workers) while loading, not while waiting.
CHILDREN_REFRESH_S = 5.0


class TimingFailed(Exception):
    """A timing worker could not load, failed a window, died or did not answer in time."""


class TimingWorker:
    """One live timing worker. ``extra_env`` is added to every worker's environment (recorded in
    the results when not empty)."""

    def __init__(
        self, name: str, slug: str, job: TimingJob, launcher: Launcher,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.slug, self.job, self.launcher = name, slug, job, launcher
        self.extra_env = dict(extra_env or {})
        self.log_path = launcher.log_dir / f"{slug}.timing.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._proc: psutil.Process | None = None
        self._children: list[psutil.Process] = []
        self._children_at = -CHILDREN_REFRESH_S

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        self.launcher.log_dir.mkdir(parents=True, exist_ok=True)
        job_path = self.launcher.log_dir / f"{self.slug}.timing.job.json"
        job_path.write_text(self.job.model_dump_json(indent=2))
        env = worker_env(self.launcher.threads, self.launcher.pin_cpus, self.launcher.malloc)
        env.update(self.extra_env)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                self.command(job_path),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                start_new_session=True,
            )
        self._proc = psutil.Process(self.process.pid)

    def command(self, job_path: Path) -> list[str]:
        """The worker's command line. Anything that answers the same protocol can stand in its
        place (``benchmarks/vendor_rounds.py`` times the runtimes' own loops this way)."""
        return [sys.executable, "-m", "quantarena.runner.timing_worker", str(job_path)]

    def wait_ready(self) -> Ready:
        reply = self._read(self.launcher.measure_timeout)
        if isinstance(reply, Ready):
            return reply
        raise TimingFailed(self._reason(reply))

    def warm_up(self) -> Ready:
        """Have a worker loaded with ``warm_up_at_load`` false warm up now."""
        self._send(WarmUpRequest().model_dump_json())
        return self.wait_ready()

    def window(self, request: TimeRequest) -> WindowReply:
        self._send(request.model_dump_json())
        reply = self._read(self.launcher.measure_timeout)
        if isinstance(reply, WindowReply):
            return reply
        raise TimingFailed(self._reason(reply))

    def before_window(self) -> None:
        """Nothing to do: a live worker is loaded and warm (``FreshWorker`` starts one here)."""

    def after_window(self) -> None:
        """Nothing to do: the worker stays loaded for the next round."""

    def cpu_seconds(self) -> float:
        """User + system CPU of the worker and its live children (a runtime's helper
        processes, listed again every ``CHILDREN_REFRESH_S``), from ``/proc``; 0 once it is
        gone."""
        if self._proc is None:
            return 0.0
        now = time.monotonic()
        try:
            own = self._proc.cpu_times()
            if now - self._children_at >= CHILDREN_REFRESH_S:
                self._children = self._proc.children(recursive=True)
                self._children_at = now
        except psutil.Error:
            return 0.0
        total = own.user + own.system
        for proc in self._children:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
        return total

    def close(self) -> None:
        """Ask it to quit; kill its process group if it does not within ``QUIT_GRACE_S``."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            try:
                self._send(QuitRequest().model_dump_json())
                process.wait(timeout=QUIT_GRACE_S)
            except (OSError, subprocess.TimeoutExpired, TimingFailed):
                pass
        if process.returncode is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:  # a quit still buffered for a worker that had already exited
                    pass
        self._proc = None

    def _send(self, line: str) -> None:
        stdin = self._stream(self.process.stdin if self.process else None)
        try:
            stdin.write(line.encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, ValueError):
            raise TimingFailed(self._exit_reason()) from None

    def _read(self, timeout: float) -> Ready | WindowReply | Failure:
        """The next reply line, waiting at most ``timeout`` seconds (a stop signal cuts it)."""
        stdout = self._stream(self.process.stdout if self.process else None)
        deadline = time.monotonic() + timeout
        stop = self.launcher.stop
        with stop.interruptible() if stop is not None else nullcontext():
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimingFailed(f"no answer within {timeout:.0f} s (log: {self.log_path})")
                ready, _, _ = select.select([stdout], [], [], remaining)
                if not ready:
                    continue
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    raise TimingFailed(self._exit_reason())
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            return parse_reply(line.decode())
        except ValueError as exc:
            raise TimingFailed(f"unreadable answer {line[:80]!r}: {exc}") from None

    def _stream(self, stream: IO[bytes] | None) -> IO[bytes]:
        if stream is None:
            raise TimingFailed("the timing worker was not started")
        return stream

    def _exit_reason(self) -> str:
        if self.process is None:
            return "the timing worker was not started"
        try:
            code = self.process.wait(timeout=QUIT_GRACE_S)
        except subprocess.TimeoutExpired:
            return f"the timing worker closed its output (log: {self.log_path})"
        return f"{describe_exit(code, self.log_path)} (log: {self.log_path})"

    def _reason(self, reply: Ready | WindowReply | Failure) -> str:
        if isinstance(reply, Failure):
            return reply.reason
        return f"unexpected answer {reply.model_dump_json()[:80]}"
