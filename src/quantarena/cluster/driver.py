"""The driver of a cluster run: prepare the inputs once, ship them through Ray's object store,
start one task per selected node (pinned to it with ``NodeAffinitySchedulingStrategy`` and
asking for all of its CPUs and GPUs, so nothing else runs there while it measures), write each
node's streamed results into its own run folder, and merge the folders into the matrix. A node
that dies costs only the rows it had not finished: they become ``failed`` with the reason."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from quantarena.cluster.nodes import Node
from quantarena.cluster.ship import pack_inputs, write_files
from quantarena.config import RunConfig
from quantarena.errors import QuantarenaError, first_line
from quantarena.results.environment import Environment
from quantarena.results.io import load_results, save_results
from quantarena.results.schema import Results, VariantResult

Log = Callable[[str], None]
#: rows a node had finished (anything else it had not measured when it stopped)
FINISHED = ("ok", "failed", "unavailable")


@dataclass
class NodeOutcome:
    node: Node
    folder: Path
    error: str | None = None  # why the node's run ended early (it died, or the run failed)


def _failed_rows(results: Results, why: str) -> Results:
    results.variants = [
        v if v.status in FINISHED
        else v.model_copy(update={"status": "failed", "reason": why})
        for v in results.variants
    ]
    return results


def _no_results(header: Results, config: RunConfig, why: str) -> Results:
    """A node that stopped before saving any results: every planned variant failed, on a
    platform whose fingerprint was never taken."""
    from quantarena.runner.plan import plan_variants

    results = header.model_copy(deep=True, update={
        "config": config.model_dump(mode="json"), "environment": Environment()})
    results.variants = [
        VariantResult(name=p.name, toolchain=p.toolchain.name, precision=p.recipe.precision,
                      status="failed", reason=why)
        for p in plan_variants(config)
    ]
    return results


class _Follower(threading.Thread):
    """Reads one node's stream and writes what arrives into the node's run folder."""

    def __init__(self, ray: Any, stream: Any, outcome: NodeOutcome, bar: tqdm[Any],
                 log: Log) -> None:
        super().__init__(name=f"follow-{outcome.node.slug}", daemon=True)
        self.ray, self.stream, self.outcome, self.bar, self.log = ray, stream, outcome, bar, log
        self.finished = 0

    def run(self) -> None:
        name = self.outcome.node.name
        try:
            for ref in self.stream:
                message = self.ray.get(ref)
                write_files(message["files"], self.outcome.folder)
                for line in message["log"]:
                    self.log(f"[{name}] {line}")
                self._progress()
                if message["done"] and message["error"]:
                    self.outcome.error = f"the run on node {name} stopped: {message['error']}"
        except self.ray.exceptions.RayError as exc:
            why = first_line(exc).split(". ")[0]  # Ray's advice on where to look follows
            self.outcome.error = (f"node {name} was lost before it measured this variant "
                                  f"({type(exc).__name__}: {why})")
        except (OSError, QuantarenaError) as exc:  # what arrived cannot be written or read
            self.outcome.error = (f"the driver could not keep node {name}'s results "
                                  f"({type(exc).__name__}: {first_line(exc)})")
        except Exception as exc:  # noqa: BLE001 - a follower must never die without a reason
            self.outcome.error = (f"the driver stopped following node {name} "
                                  f"({type(exc).__name__}: {first_line(exc)})")

    def _progress(self) -> None:
        path = self.outcome.folder / "results.json"
        if not path.exists():
            return
        done = sum(v.status in FINISHED for v in load_results(path).variants)
        self.bar.update(done - self.finished)
        self.finished = done


def _close(outcome: NodeOutcome, header: Results, config: RunConfig) -> Results:
    """The node's results as the driver keeps them: unfinished rows failed with the reason."""
    path = outcome.folder / "results.json"
    outcome.folder.mkdir(parents=True, exist_ok=True)
    if path.exists():
        results = load_results(path)
    else:
        results = _no_results(header, config, outcome.error or "the node sent no results")
    if outcome.error:
        results = _failed_rows(results, outcome.error)
    save_results(results, outcome.folder)
    return results


def run_on_nodes(
    ray: Any, nodes: list[Node], config: RunConfig, out: Path, log: Log
) -> list[NodeOutcome]:
    """Measure ``config`` on every node at once (each node one variant at a time); one run
    folder per node under ``out``."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from quantarena.cluster.node import run_on_node
    from quantarena.runner.pipeline import prepare_once

    log(f"preparing the shared inputs once for {len(nodes)} platform(s): "
        + ", ".join(n.name for n in nodes))
    shared = prepare_once(config, out / "prepared", log)
    inputs = ray.put(pack_inputs(shared))
    task = ray.remote(run_on_node)
    outcomes, followers = [], []
    total = len(nodes) * len(config.variants)
    with tqdm(total=total, desc="variants measured", unit="variant") as bar:
        for node in nodes:
            outcome = NodeOutcome(node=node, folder=out / node.slug)
            stream = task.options(
                num_cpus=node.cpus, num_gpus=node.gpus, max_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
            ).remote(config.model_dump_json(), inputs)
            follower = _Follower(ray, stream, outcome, bar, log)
            follower.start()
            outcomes.append(outcome)
            followers.append(follower)
        for follower in followers:
            follower.join()
    for outcome in outcomes:
        _close(outcome, shared.header, config)
        if outcome.error:
            log(f"warning: {outcome.error}")
    return outcomes
