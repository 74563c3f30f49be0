"""A two-node Ray cluster on this machine, labelled as two platforms, running a small plan with
``quantarena run --cluster``. The second node cannot import OpenVINO (as on a machine without
the package), and is killed once it has finished a variant and found OpenVINO missing. Run by
``test_cluster.py`` (inside a loopback-only network namespace when it can make one); writes
what it saw as JSON to the path given as its second argument.

usage: python cluster_scenario.py OUT SUMMARY.json SAMPLE_DIR CACHE_DIR
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ray.cluster_utils import Cluster

LABEL = "quantarena-platform"
VARIANTS = "onnxruntime:fp32,openvino:fp32,onnxruntime:int8,onnxruntime:int8-dynamic"
#: imported at start-up by every Python process of the second node: a package finder that
#: answers for OpenVINO as Python does for a package that is not installed
WITHOUT_OPENVINO = """import sys


class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "openvino":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Absent())
"""
#: short measurements: the scenario checks what survives a lost node, not the numbers
QUICK = ["--eval-images", "24", "--calibration-images", "16", "--threads", "1",
         "--latency-min-iterations", "5", "--latency-min-seconds", "0.2",
         "--latency-max-seconds", "1", "--warmup-max-seconds", "0.5",
         "--throughput-batches", "1,4", "--throughput-min-seconds", "0.2",
         "--throughput-max-seconds", "1", "--interleave", "false"]


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        return list(json.loads(path.read_text())["variants"])
    except (OSError, ValueError, KeyError):
        return []  # not written yet


def main(out: Path, summary: Path, sample: Path, cache: Path) -> None:
    started = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "labels": {LABEL: "alpha"}, "node_ip_address": "127.0.0.1"})
    seen: dict[str, object] = {}
    try:
        shim = out.parent / "without-openvino"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "sitecustomize.py").write_text(WITHOUT_OPENVINO)
        path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p)
        beta = cluster.add_node(num_cpus=1, labels={LABEL: "beta"}, node_ip_address="127.0.0.1",
                                env_vars={"PYTHONPATH": path})
        cluster.wait_for_nodes()
        seen["cluster_start_s"] = round(time.monotonic() - started, 1)
        command = [sys.executable, "-m", "quantarena", "run", "--cluster", cluster.address,
                   "--variants", VARIANTS, "--data", str(sample), "--cache-dir", str(cache),
                   "--out", str(out), *QUICK]
        cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        beta_results = out / "beta" / "results.json"
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and cli.poll() is None:
            rows = _rows(beta_results)
            # killed once it has finished a variant and found OpenVINO missing, with two to go
            if {"ok", "unavailable"} <= {r["status"] for r in rows}:
                seen["beta_at_kill"] = [[r["name"], r["status"]] for r in rows]
                cluster.remove_node(beta, allow_graceful=False)
                break
            time.sleep(0.2)
        stdout, stderr = cli.communicate(timeout=max(10.0, deadline - time.monotonic()))
        seen.update(rc=cli.returncode, stdout=stdout[-4000:], stderr=stderr[-4000:],
                    seconds=round(time.monotonic() - started, 1))
    finally:
        cluster.shutdown()
        summary.write_text(json.dumps(seen, indent=2))


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:5]))
