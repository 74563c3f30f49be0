"""Load and save ``results.json``; writes are atomic, so a crash never leaves a torn file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from quantarena.errors import ResultsError, first_line
from quantarena.results.migrate import migrate
from quantarena.results.schema import SCHEMA_VERSION, Results

RESULTS_FILE = "results.json"
#: JSON's names for what ``json.loads`` returns, for the message about a file that is not an object
_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


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
    except (OSError, UnicodeDecodeError) as exc:  # unreadable, a folder, or binary
        raise ResultsError(f"cannot read {path}: {first_line(exc)}") from exc
    if not isinstance(data, dict):
        kind = _JSON_KINDS.get(type(data), type(data).__name__)
        raise ResultsError(f"{path} does not hold a results object (it holds a JSON {kind})")
    try:
        data = migrate(data, int(SCHEMA_VERSION.split(".")[0]), str(path))
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        # an older layout with a key of the wrong type: the file is damaged, not our code
        raise ResultsError(
            f"{path} does not match its schema version's layout: {type(exc).__name__}: "
            f"{first_line(exc)}"
        ) from exc
    try:
        return Results.model_validate(data)
    except ValidationError as exc:
        raise ResultsError(
            f"{path} does not match the results schema: {exc.errors()[0]['msg']}"
        ) from exc
