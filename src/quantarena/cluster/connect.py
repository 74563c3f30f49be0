"""Ray is an optional extra (``quantarena[cluster]``): imported only by ``run --cluster``, and its
absence or an unreachable cluster is one line, not a traceback."""

from __future__ import annotations

import importlib
import socket
from types import ModuleType
from typing import Any

from quantarena.errors import ConfigError, first_line


class ClusterError(ConfigError):
    """``--cluster`` cannot be used: Ray is not installed, the address does not answer, or
    ``--platforms`` names no node of the cluster (exit 2, like any setting that cannot work)."""


def import_ray() -> ModuleType:
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ClusterError(
            f"--cluster needs Ray, which is not importable here ({first_line(exc)}): "
            "pip install 'quantarena[cluster]'"
        ) from None


def _answers(address: str, timeout: float = 5.0) -> None:
    """A ``HOST:PORT`` where nothing listens is refused at once: Ray itself retries for minutes."""
    host, sep, port = address.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    host = host.removeprefix("ray://").strip("[]")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(f"cannot join the Ray cluster at {address}: nothing answers there "
                           f"({first_line(exc)})") from None


def connect(address: str) -> Any:
    """Join the cluster at ``address`` (``host:port`` or ``auto``) as its driver; returns the
    ``ray`` module. Ray Client (``ray://``) is refused: measured with Ray 2.58, iterating a
    streaming generator through it raises "Streaming ... are not currently supported when using
    Ray Client", and the nodes' results come back as such a stream."""
    if address.startswith("ray://"):
        raise ClusterError(
            f"--cluster {address}: Ray Client (ray://) cannot carry the result stream each node "
            "sends back per variant (Ray Client does not support streaming generators); run "
            "quantarena on a machine of the cluster with --cluster auto or --cluster HEAD:6379"
        )
    ray = import_ray()
    _answers(address)
    try:
        ray.init(address=address, namespace="quantarena", logging_level="ERROR",
                 log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        raise ClusterError(f"cannot join the Ray cluster at {address}: {first_line(exc)}") from None
    return ray
