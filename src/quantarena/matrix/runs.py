"""Load the runs of a matrix and refuse what cannot be compared: a matrix compares platforms,
so everything else (model, weights, preprocessing, the evaluation images) must be the same.
Older schema versions are read through ``load_results`` (``results.migrate``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quantarena.errors import ResultsError
from quantarena.results.identity import SAME_EXPERIMENT
from quantarena.results.io import RESULTS_FILE, load_results
from quantarena.results.schema import Results


class IncompatibleRuns(ResultsError):
    """Runs of different models, weights or evaluation lists: their numbers do not compare, so
    no matrix is made (exit 6, like any results file that cannot be used)."""


@dataclass(frozen=True)
class Run:
    """One run folder: its results (migrated to the current schema) and the version it was
    written in."""

    folder: Path
    results: Results
    schema_version: str


def load_run(path: Path) -> Run:
    folder = path if path.is_dir() else path.parent
    results = load_results(path)
    try:
        written = str(json.loads((folder / RESULTS_FILE).read_text()).get("schema_version"))
    except (OSError, ValueError):  # load_results read it a moment ago; keep going without
        written = results.schema_version
    return Run(folder=folder, results=results, schema_version=written)


#: what must be equal across runs: (what it is, how to read it)
MUST_MATCH = SAME_EXPERIMENT
#: what may differ but deserves a line in the matrix
SHOULD_MATCH: list[tuple[str, Callable[[Results], object]]] = [
    ("calibration list (SHA-256)", lambda r: r.dataset.calibration_list_sha256),
    ("reference variant", lambda r: r.reference),
    ("variants", lambda r: sorted(v.name for v in r.variants)),
]


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:16] + "…" + text[-8:]


def check_compatible(runs: list[Run]) -> list[str]:
    """Raise ``IncompatibleRuns`` naming the first difference that makes the runs incomparable;
    return one warning per lesser difference."""
    if not runs:
        raise ResultsError("no runs to merge")
    first = runs[0]
    for run in runs[1:]:
        for label, read in MUST_MATCH:
            a, b = read(first.results), read(run.results)
            if a != b:
                raise IncompatibleRuns(
                    f"cannot merge {first.folder} and {run.folder}: {label} differs "
                    f"({_short(a)} vs {_short(b)})"
                )
    warnings = []
    for label, read in SHOULD_MATCH:
        values = [read(run.results) for run in runs]
        if any(v != values[0] for v in values[1:]):
            shown = "; ".join(f"{run.folder}: {_short(v)}" for run, v in zip(runs, values,
                                                                              strict=True))
            warnings.append(f"{label} differs between runs ({shown})")
    return warnings


def load_runs(paths: list[Path]) -> tuple[list[Run], list[str]]:
    """The runs, checked to be comparable, and the warnings about what differs."""
    folders = [p.resolve() for p in paths]
    duplicates = {str(p) for p in folders if folders.count(p) > 1}
    if duplicates:
        raise ResultsError(f"the same run is given twice: {', '.join(sorted(duplicates))}")
    runs = [load_run(p) for p in paths]
    return runs, check_compatible(runs)
