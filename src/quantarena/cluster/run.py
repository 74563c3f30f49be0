"""``quantarena run --cluster``: the same plan on every selected node, one run folder per
platform under ``--out`` (each with its report), and the platform × variant matrix beside them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quantarena.cluster.connect import connect
from quantarena.cluster.driver import NodeOutcome, run_on_nodes
from quantarena.cluster.nodes import alive_nodes, select
from quantarena.config import RunConfig
from quantarena.errors import ConfigError, OutputError
from quantarena.matrix.model import Matrix

Log = Callable[[str], None]


@dataclass(frozen=True)
class ClusterRun:
    out: Path
    outcomes: list[NodeOutcome]
    matrix: Matrix


def _empty_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"output folder {out} is an existing file, not a folder: pass "
                          "another --out")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out} is not empty: a cluster run writes a new folder")
    out.mkdir(parents=True, exist_ok=True)


def run_cluster(
    config: RunConfig, address: str, platforms: list[str] | None, log: Log = print
) -> ClusterRun:
    from quantarena.matrix.write import merge_runs
    from quantarena.report.html import write_html
    from quantarena.report.markdown import write_markdown
    from quantarena.results.io import load_results

    config = config.resolved()
    assert config.out is not None  # resolved() always sets it
    out = config.out.resolve()
    ray = connect(address)
    try:
        nodes = select(alive_nodes(ray), platforms)
        _empty_out(out)
        outcomes = run_on_nodes(ray, nodes, config, out, log)
    finally:
        ray.shutdown()
    for outcome in outcomes:
        results = load_results(outcome.folder)
        write_markdown(results, outcome.folder)
        write_html(results, outcome.folder)
    matrix = merge_runs([o.folder for o in outcomes], out)
    return ClusterRun(out=out, outcomes=outcomes, matrix=matrix)
