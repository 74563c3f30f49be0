"""quantarena run --cluster on a real two-node Ray cluster on this machine (``cluster_scenario``),
with one node killed mid-run; node selection; and the one-line errors without Ray.

The cluster runs inside a network namespace that has only loopback (``ip netns``), so Ray binds
127.0.0.1 and needs no network at all; where no namespace can be made (not root, no ``ip``),
the scenario runs on the host, where Ray binds this machine's own address, and says why."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import quantarena
from quantarena.cluster.connect import ClusterError
from quantarena.cluster.nodes import LABEL, Node, select
from quantarena.matrix.model import Matrix
from quantarena.results.io import load_results

SCENARIO = Path(__file__).with_name("cluster_scenario.py")


def _namespace() -> tuple[list[str], str | None, str]:
    """(command prefix, namespace, why not): a fresh namespace with loopback up, if possible."""
    ip = shutil.which("ip")
    if ip is None:
        return [], None, "the ip command is missing"
    if os.geteuid() != 0:
        return [], None, "network namespaces need root"
    name = f"quantarena-test-{os.getpid()}"
    made = subprocess.run([ip, "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return [], None, f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run([ip, "netns", "exec", name, ip, "link", "set", "lo", "up"], check=True)
    return [ip, "netns", "exec", name], name, ""


def _remove_namespace(name: str) -> None:
    """Kill what still runs in the namespace (all of it started by the scenario), then drop it."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout
    for pid in pids.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, cache_dir: Path
) -> Iterator[tuple[Path, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("cluster")
    out, summary = root / "out", root / "summary.json"
    prefix, namespace, why_not = _namespace()
    if namespace is None:
        print(f"cluster test on the host network, not a loopback-only namespace: {why_not}",
              file=sys.stderr)
    command = [*prefix, sys.executable, str(SCENARIO), str(out), str(summary), str(sample_dir),
               str(cache_dir)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        process.wait(timeout=480)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the scenario and the Ray processes it began
        if namespace is not None:
            _remove_namespace(namespace)
    assert summary.exists(), f"the scenario ended with {process.returncode} and no summary"
    yield out, json.loads(summary.read_text())


@pytest.mark.slow
def test_two_platform_folders_and_a_matrix(scenario: tuple[Path, dict[str, Any]]) -> None:
    out, seen = scenario
    assert seen["rc"] == 1, seen["stderr"]  # the lost node's variants are failed rows
    for platform in ("alpha", "beta"):
        assert (out / platform / "results.json").exists()
        assert (out / platform / "report.md").exists()
    matrix = Matrix.model_validate_json((out / "matrix.json").read_text())
    assert [p.key.rsplit(" ", 1)[1] for p in matrix.platforms] == ["[alpha]", "[beta]"]
    assert (out / "matrix.md").exists() and (out / "matrix.html").exists()
    # both nodes measured from the same shipped inputs: the same images, compared image by image
    fp32 = next(c for c in matrix.cross_platform if c.variant == "onnxruntime:fp32")
    assert fp32.comparison is not None and fp32.comparison.images == 24
    assert fp32.agreement_top1 == 1.0  # the same artifact recipe on the same CPU kind


@pytest.mark.slow
def test_the_surviving_node_keeps_every_row(scenario: tuple[Path, dict[str, Any]]) -> None:
    out, _ = scenario
    alpha = load_results(out / "alpha")
    assert [v.status for v in alpha.variants] == ["ok", "ok", "ok", "ok"]
    for v in alpha.variants:
        assert v.predictions_file and (out / "alpha" / v.predictions_file).exists()
        assert v.latency_ms is not None and v.accuracy is not None
    assert alpha.environment.threads == 1 and alpha.dataset.eval_images == 24


@pytest.mark.slow
def test_a_lost_node_costs_only_its_unfinished_variants(
    scenario: tuple[Path, dict[str, Any]],
) -> None:
    out, seen = scenario
    at_kill = dict(seen["beta_at_kill"])
    beta = load_results(out / "beta")
    finished = [v for v in beta.variants if at_kill.get(v.name) == "ok"]
    lost = [v for v in beta.variants if at_kill.get(v.name) == "not_run"]
    assert finished and lost, at_kill
    assert all(v.status == "ok" and v.predictions_file for v in finished)
    # the node without the package said so, as a local run does
    missing = beta.variant("openvino:fp32")
    assert missing is not None and missing.status == "unavailable"
    assert missing.reason is not None and missing.reason.startswith("openvino not installed")
    for v in lost:
        assert v.status == "failed" and v.reason is not None
        assert v.reason.startswith("node beta was lost before it measured this variant")


def _node(name: str, **labels: str) -> Node:
    return Node(node_id=name * 8, address="10.0.0.1", cpus=2, gpus=0,
                labels={LABEL: name, **labels}, resources=[f"res_{name}"])


def test_platforms_select_nodes_by_label_or_resource() -> None:
    nodes = [_node("epyc", zone="a"), _node("xeon", zone="b"), _node("arm", zone="b")]
    assert [n.name for n in select(nodes, None)] == ["epyc", "xeon", "arm"]
    assert [n.name for n in select(nodes, ["xeon"])] == ["xeon"]
    assert [n.name for n in select(nodes, ["zone=b"])] == ["xeon", "arm"]
    assert [n.name for n in select(nodes, ["res_epyc", "arm"])] == ["epyc", "arm"]
    with pytest.raises(ClusterError, match=r"--platforms gpu-box: no node .* \(nodes: epyc, xeon"):
        select(nodes, ["gpu-box"])
    with pytest.raises(ClusterError, match="several nodes are named epyc"):
        select([_node("epyc"), _node("epyc")], None)
    unlabelled = Node(node_id="abcdef123", address="10.0.0.9", cpus=1, gpus=0)
    assert unlabelled.name == "10.0.0.9-abcdef"


def test_without_ray_cluster_is_one_line(tmp_path: Path) -> None:
    """An environment where ``import ray`` fails, as it does without the ``cluster`` extra."""
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    done = quantarena("run", "--cluster", "auto", "--out", str(tmp_path / "out"),
                      pythonpath=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "--cluster needs Ray" in done.stderr
    assert "quantarena[cluster]" in done.stderr and not (tmp_path / "out").exists()


def test_platforms_needs_a_cluster(tmp_path: Path) -> None:
    done = quantarena("run", "--platforms", "a", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "add --cluster ADDRESS" in done.stderr


def test_an_address_where_nothing_listens_is_one_line(tmp_path: Path) -> None:
    done = quantarena("run", "--cluster", "127.0.0.1:1", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "cannot join the Ray cluster at 127.0.0.1:1: nothing answers there" in done.stderr


def test_a_ray_client_address_is_refused_in_one_line(tmp_path: Path) -> None:
    """Ray Client cannot iterate the streaming generator the nodes answer through."""
    done = quantarena("run", "--cluster", "ray://127.0.0.1:10001", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "Ray Client (ray://) cannot carry the result stream" in done.stderr
    assert not (tmp_path / "out").exists()
