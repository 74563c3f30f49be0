"""Run one job in a fresh Python process with the run's thread, pinning and allocator settings, a
timeout, and a log. Built once from the config; every job of a run goes through it.

Crashes (a signal), non-zero exits, timeouts and the kernel's OOM killer all become a ``failed``
outcome with a one-line reason; the caller's other variants are unaffected. A stop signal (``Stop``)
or any other exception while a worker runs kills the worker's whole process group first: no worker
outlives the wait for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from quantarena.config import RunConfig
from quantarena.results.schema import Measurements
from quantarena.runner.interrupt import Stop
from quantarena.runner.jobs import BuildJob, JobOutcome, MeasureJob, Prepared, PrepareJob
from quantarena.runner.lifeline import PARENT_ENV
from quantarena.toolchains.base import BuildOutcome

PIN_ENV = "QUANTARENA_PIN_CPUS"
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)

#: glibc's allocator, frozen: large buffers stay in the heap instead of being mmap'ed and unmapped
#: (page-faulted) on every call, and freed memory is not trimmed back. Measured on eager PyTorch
#: FP32 MobileNetV2 (2 threads): batch 32 went from ~30 to ~85 img/s, and the speed no longer
#: depends on what the process allocated before (glibc's default threshold adapts to history).
#: Both thresholds sit far above any heap a worker reaches (1 TiB): a merely large value is not
#: enough. With 1 GB, the exact twin of PT2E MobileNetV2 at batch 32 freed over 1 GB of
#: temporaries per call, glibc gave the heap back to the kernel each time, and the next call
#: page-faulted it in again (200,000-360,000 faults, 1.2 s per batch instead of 0.85 s on a
#: 2-core AMD EPYC without VNNI).
STEADY_MALLOC_BYTES = str(1 << 40)
STEADY_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": STEADY_MALLOC_BYTES,
    "MALLOC_TRIM_THRESHOLD_": STEADY_MALLOC_BYTES,
}


def worker_env(
    threads: int, pin_cpus: list[int] | None, malloc: Literal["steady", "system"] = "steady"
) -> dict[str, str]:
    """The environment every worker gets: same thread counts and allocator settings, set before
    any runtime is imported."""
    env = dict(os.environ)
    for name in THREAD_ENV:
        env[name] = str(threads)
    for name, value in STEADY_MALLOC.items():
        if malloc == "steady":
            env[name] = value
        else:
            env.pop(name, None)
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    env[PARENT_ENV] = str(os.getpid())
    env.pop(PIN_ENV, None)
    if pin_cpus:
        env[PIN_ENV] = ",".join(str(c) for c in pin_cpus)
    return env


def describe_exit(code: int, log: Path) -> str:
    if code < 0:
        if -code == signal.SIGKILL:
            return "worker was killed (SIGKILL: most likely out of memory)"
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"worker crashed ({name})"
    tail = ""
    if log.exists():
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        tail = lines[-1][:300] if lines else ""
    return f"worker exited with code {code}" + (f": {tail}" if tail else "")


@dataclass(frozen=True)
class Launcher:
    threads: int
    pin_cpus: list[int] | None
    malloc: Literal["steady", "system"]
    log_dir: Path
    build_timeout: float
    measure_timeout: float
    #: the run's signal state: a stop signal cuts the wait for a worker short
    stop: Stop | None = None

    @classmethod
    def from_config(cls, config: RunConfig, log_dir: Path, stop: Stop | None = None) -> Launcher:
        return cls(
            config.threads,
            config.pin_cpus,
            config.malloc,
            log_dir,
            config.build_timeout,
            config.measure_timeout
            + (config.scenarios.budget_seconds() if config.scenarios.enabled else 0.0),
            stop,
        )

    @overload
    def run(self, job: PrepareJob, name: str) -> JobOutcome[Prepared]: ...
    @overload
    def run(self, job: BuildJob, name: str) -> JobOutcome[BuildOutcome]: ...
    @overload
    def run(self, job: MeasureJob, name: str) -> JobOutcome[Measurements]: ...

    def run(
        self, job: PrepareJob | BuildJob | MeasureJob, name: str
    ) -> JobOutcome[Prepared] | JobOutcome[BuildOutcome] | JobOutcome[Measurements]:
        """Write ``NAME.job.json``, run the worker, read ``NAME.outcome.json`` (log: NAME.log)."""
        outcome_type: (
            type[JobOutcome[Prepared]]
            | type[JobOutcome[BuildOutcome]]
            | type[JobOutcome[Measurements]]
        )
        if isinstance(job, PrepareJob):
            outcome_type, timeout = JobOutcome[Prepared], self.build_timeout
        elif isinstance(job, BuildJob):
            outcome_type, timeout = JobOutcome[BuildOutcome], self.build_timeout
        else:
            outcome_type, timeout = JobOutcome[Measurements], self.measure_timeout
        self.log_dir.mkdir(parents=True, exist_ok=True)
        job_path = self.log_dir / f"{name}.job.json"
        outcome_path = self.log_dir / f"{name}.outcome.json"
        log_path = self.log_dir / f"{name}.log"
        outcome_path.unlink(missing_ok=True)
        job_path.write_text(job.model_dump_json(indent=2))
        command = [
            sys.executable,
            "-m",
            "quantarena.runner.worker",
            str(job_path),
            str(outcome_path),
        ]
        if self.stop is not None:
            self.stop.check()  # a signal that came while not waiting: start nothing more
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=worker_env(self.threads, self.pin_cpus, self.malloc),
                start_new_session=True,
            )
            try:
                with self.stop.interruptible() if self.stop is not None else nullcontext():
                    code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(process)
                return outcome_type(
                    status="failed", reason=f"timed out after {timeout:.0f} s (log: {log_path})"
                )
            except BaseException:
                # A stop signal (or anything else) while the worker runs: it must not outlive us.
                _kill(process)
                raise
        if code != 0 or not outcome_path.exists():
            return outcome_type(
                status="failed", reason=f"{describe_exit(code, log_path)} (log: {log_path})"
            )
        return outcome_type.model_validate_json(outcome_path.read_text())


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the worker's process group (the worker leads it: ``start_new_session``), then reap it.
    The leader is not reaped before this, so its group id cannot have been reused."""
    if process.returncode is None:  # not reaped yet, so its pid is still its own
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # already gone, group and all
    process.wait()
