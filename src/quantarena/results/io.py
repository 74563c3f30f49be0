"""Load and save ``results.json``; writes are atomic, so a crash never leaves a torn file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from quantarena.errors import ResultsError
from quantarena.results.migrate import migrate
from quantarena.results.schema import SCHEMA_VERSION, Results

RESULTS_FILE = "results.json"


def save_results(results: Results, run_dir: Path) -> Path:
    path = run_dir / RESULTS_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(results.model_dump_json(indent=2))
    tmp.replace(path)
    return path


def load_results(run_dir_or_file: Path) -> Results:
    path = run_dir_or_file / RESULTS_FILE if run_dir_or_file.is_dir() else run_dir_or_file
    if not path.exists():
        raise ResultsError(f"no results found at {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ResultsError(f"{path} does not hold a results object")
    data = migrate(data, int(SCHEMA_VERSION.split(".")[0]), str(path))
    try:
        return Results.model_validate(data)
    except ValidationError as exc:
        raise ResultsError(
            f"{path} does not match the results schema: {exc.errors()[0]['msg']}"
        ) from exc
