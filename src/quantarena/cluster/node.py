"""The work of one node: unpack the shipped inputs, run the plan exactly as ``quantarena run``
does (one fresh worker at a time), and stream the run folder's results, predictions and logs back
to the driver each time ``results.json`` is saved, so a node that dies later keeps every row it
finished. Runs inside a Ray task that has reserved the whole node."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from quantarena.cluster.ship import Files, collect, unpack_inputs
from quantarena.config import RunConfig
from quantarena.errors import one_line

POLL_SECONDS = 0.5


class _Run(threading.Thread):
    """``run_benchmark`` in a thread, so the task can stream while it measures."""

    def __init__(self, config: RunConfig, root: Path, inputs: Files) -> None:
        super().__init__(name="quantarena-node-run", daemon=True)
        self.config, self.root, self.inputs = config, root, inputs
        self.lines: list[str] = []
        self.error: str | None = None

    def run(self) -> None:
        from quantarena.runner.pipeline import run_benchmark

        try:
            shared = unpack_inputs(self.inputs, self.root / "inputs")
            run_benchmark(self.config, log=self.lines.append, mode="new", shared=shared)
        except BaseException as exc:  # noqa: BLE001 - every end of the run goes back to the driver
            self.error = f"{type(exc).__name__}: {one_line(exc)}"


def _message(files: Files, lines: list[str], done: bool, error: str | None) -> dict[str, Any]:
    return {"files": files, "log": lines, "done": done, "error": error}


def run_on_node(config_json: str, inputs: Files) -> Iterator[dict[str, Any]]:
    """Yield ``{files, log, done, error}`` whenever the run folder's results, predictions or logs
    change (``results.json`` is saved after every variant), and once at the end. The node's
    scratch folder is removed when the run ends."""
    root = Path(tempfile.mkdtemp(prefix="quantarena-node-"))
    config = RunConfig.model_validate_json(config_json).model_copy(
        update={"out": root / "run", "cache_dir": root / "cache"}
    )
    run = _Run(config, root, inputs)
    sent: dict[str, float] = {}
    shown = 0
    try:
        run.start()
        while run.is_alive():
            run.join(POLL_SECONDS)
            files = collect(root / "run", sent) if (root / "run").is_dir() else {}
            if files:
                lines, shown = run.lines[shown:], len(run.lines)
                yield _message(files, lines, False, None)
        files = collect(root / "run", sent) if (root / "run").is_dir() else {}
        yield _message(files, run.lines[shown:], True, run.error)
    finally:
        shutil.rmtree(root, ignore_errors=True)

