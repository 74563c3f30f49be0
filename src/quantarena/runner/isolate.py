"""Run one job in a fresh Python process with the run's thread settings, a timeout, and a log.

Crashes (a signal), non-zero exits, timeouts and the kernel's OOM killer all become a ``failed``
outcome with a one-line reason; the caller's other variants are unaffected.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from quantarena.runner.jobs import Job, JobOutcome
from quantarena.runner.worker import PIN_ENV

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


#: glibc's allocator, frozen: large buffers stay in the heap instead of being mmap'ed and unmapped
#: (page-faulted) on every call, and freed memory is not trimmed back. Measured on eager PyTorch
#: FP32 MobileNetV2 (2 threads): batch 32 went from ~30 to ~85 img/s, and the speed no longer
#: depends on what the process allocated before (glibc's default threshold adapts to history).
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}


def worker_env(threads: int, pin_cpus: list[int] | None, malloc: str = "steady") -> dict[str, str]:
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
    env.pop(PIN_ENV, None)
    if pin_cpus:
        env[PIN_ENV] = ",".join(str(c) for c in pin_cpus)
    return env


def _describe_exit(code: int, log: Path) -> str:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        if -code == signal.SIGKILL:
            return "worker was killed (SIGKILL: most likely out of memory)"
        return f"worker crashed ({name})"
    tail = ""
    if log.exists():
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        tail = lines[-1][:300] if lines else ""
    return f"worker exited with code {code}" + (f": {tail}" if tail else "")


def run_isolated(
    job: Job, jobdir: Path, name: str, threads: int, pin_cpus: list[int] | None, timeout: float,
    malloc: str = "steady",
) -> JobOutcome:
    """Write ``name.job.json``, run the worker, read ``name.outcome.json`` (log: ``name.log``)."""
    jobdir.mkdir(parents=True, exist_ok=True)
    job_path = jobdir / f"{name}.job.json"
    outcome_path = jobdir / f"{name}.outcome.json"
    log_path = jobdir / f"{name}.log"
    outcome_path.unlink(missing_ok=True)
    job_path.write_text(job.model_dump_json(indent=2))
    command = [sys.executable, "-m", "quantarena.runner.worker", str(job_path), str(outcome_path)]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=worker_env(threads, pin_cpus, malloc), start_new_session=True,
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return JobOutcome(status="failed", reason=f"timed out after {timeout:.0f} s (log: {log_path})")
        except KeyboardInterrupt:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    if code != 0 or not outcome_path.exists():
        return JobOutcome(status="failed", reason=f"{_describe_exit(code, log_path)} (log: {log_path})")
    return JobOutcome.model_validate_json(outcome_path.read_text())
