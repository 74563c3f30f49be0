"""What the runner and a timing worker say to each other: one JSON object per line, the runner's
requests on the worker's stdin, the worker's replies on its stdout (the worker moves everything
else that would print to stdout, a runtime's C code included, to its log).

A timing worker loads one artifact once, warms it up, says ``ready``, then times one batch-1
window per ``time`` request until ``quit`` (or until its stdin closes). A job with
``warm_up_at_load`` false says ``ready`` once loaded and warms up on a ``warm`` request (answered
with ``ready`` again), so that several workers can load at once and still warm up one at a time.
Waiting for the next request it blocks in a read: the process itself uses no CPU while others
are timed (a runtime's own threads may still spin for a while after work; the runner measures
that).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from quantarena.toolchains.base import RecipePayload


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimingJob(_Message):
    """What a timing worker loads: the variant's artifact, the cached evaluation split (its first
    images are the real inputs), the run's thread count and warm-up cap."""

    recipe: RecipePayload
    artifact: Path
    evaluation: Path
    threads: int
    warmup_max_seconds: float
    warm_up_at_load: bool = True


class TimeRequest(_Message):
    """Time one window: ``warmup_calls`` untimed calls (caches and thread pools were another
    variant's a moment ago), then batch-1 calls until both ``min_calls`` and ``min_seconds``."""

    cmd: Literal["time"] = "time"
    min_seconds: float
    min_calls: int
    warmup_calls: int = 2


class WarmUpRequest(_Message):
    """Warm up now, alone on the machine (the job was loaded with ``warm_up_at_load`` false)."""

    cmd: Literal["warm"] = "warm"


class QuitRequest(_Message):
    cmd: Literal["quit"] = "quit"


Request = Annotated[TimeRequest | WarmUpRequest | QuitRequest, Field(discriminator="cmd")]


class AnyRequest(BaseModel):
    request: Request


class Ready(_Message):
    """Loaded and warmed up: the load's seconds, the warm-up's calls, resident memory now, and
    the process's age (seconds since it started: interpreter, imports, reading its inputs, the
    load, and the warm-up when there was one; None from a worker that did not say)."""

    event: Literal["ready"] = "ready"
    load_seconds: float
    warmup_calls: int
    warmup_stable: bool
    rss_mb: float
    age_seconds: float | None = None


class WindowReply(_Message):
    """One window: the median of its timed calls (ms), their count, its wall seconds, and the
    worker's own CPU seconds over it (every thread of the process)."""

    event: Literal["window"] = "window"
    median_ms: float
    calls: int
    seconds: float
    cpu_s: float


class Failure(_Message):
    """Loading or a window failed: one line, as the other workers report failures."""

    event: Literal["failed"] = "failed"
    reason: str


Reply = Annotated[Ready | WindowReply | Failure, Field(discriminator="event")]


class AnyReply(BaseModel):
    reply: Reply


def parse_request(line: str) -> TimeRequest | WarmUpRequest | QuitRequest:
    return AnyRequest.model_validate_json(f'{{"request": {line}}}').request


def parse_reply(line: str) -> Ready | WindowReply | Failure:
    return AnyReply.model_validate_json(f'{{"reply": {line}}}').reply
