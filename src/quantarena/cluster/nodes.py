"""The nodes a cluster run measures on, and their platform names. A node is named by its
``quantarena-platform`` label when it has one (``ray start --labels quantarena-platform=NAME``),
else by its first custom resource, else by its address; ``--platforms`` selects nodes by any
label value, ``key=value`` label, or custom resource name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from quantarena.cluster.connect import ClusterError

LABEL = "quantarena-platform"
#: resources every node has: not a name anyone chose
_BUILTIN = re.compile(r"^(CPU|GPU|memory|object_store_memory|node:.*|accelerator_type:.*)$")


@dataclass(frozen=True)
class Node:
    node_id: str
    address: str
    cpus: int
    gpus: int
    labels: dict[str, str] = field(default_factory=dict)
    resources: list[str] = field(default_factory=list)  # custom resource names

    @property
    def name(self) -> str:
        if self.labels.get(LABEL):
            return self.labels[LABEL]
        if self.resources:
            return self.resources[0]
        return f"{self.address}-{self.node_id[:6]}"

    @property
    def slug(self) -> str:
        """The platform's run folder under the cluster run's ``--out``."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)

    def matches(self, selector: str) -> bool:
        key, sep, value = selector.partition("=")
        if sep:
            return self.labels.get(key) == value
        return selector in self.labels.values() or selector in self.resources


def alive_nodes(ray: Any) -> list[Node]:
    """Every live node of the cluster the driver joined, by name (Ray's own order varies)."""
    nodes = []
    for info in ray.nodes():
        if not info.get("Alive"):
            continue
        resources = info.get("Resources", {})
        nodes.append(Node(
            node_id=info["NodeID"], address=info.get("NodeManagerAddress", "?"),
            cpus=int(resources.get("CPU", 0)), gpus=int(resources.get("GPU", 0)),
            labels={k: v for k, v in (info.get("Labels") or {}).items()
                    if not k.startswith("ray.io/")},
            resources=sorted(r for r in resources if not _BUILTIN.match(r)),
        ))
    return sorted(nodes, key=lambda n: n.name)


def select(nodes: list[Node], selectors: list[str] | None) -> list[Node]:
    """The nodes ``selectors`` name (all nodes when none); a selector that names no node, or
    nodes that would share a run folder, are refused."""
    chosen = nodes
    if selectors:
        missing = [s for s in selectors if not any(n.matches(s) for n in nodes)]
        if missing:
            known = ", ".join(n.name for n in nodes) or "none"
            raise ClusterError(f"--platforms {', '.join(missing)}: no node of the cluster has "
                               f"that label or resource (nodes: {known})")
        chosen = [n for n in nodes if any(n.matches(s) for s in selectors)]
    if not chosen:
        raise ClusterError("the cluster has no live node to measure on")
    slugs = [n.slug for n in chosen]
    twins = sorted({s for s in slugs if slugs.count(s) > 1})
    if twins:
        raise ClusterError(f"several nodes are named {', '.join(twins)}: give each its own "
                           f"'{LABEL}' label")
    without_cpu = [n.name for n in chosen if n.cpus < 1]
    if without_cpu:
        raise ClusterError(f"node(s) {', '.join(without_cpu)} offer no CPU to Ray: nothing can "
                           "be measured there")
    return chosen
