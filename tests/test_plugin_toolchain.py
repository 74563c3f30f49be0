"""A toolchain added as one package with one registry line (an entry point of the
``quantarena.toolchains`` group) works everywhere: ``list``, ``run``, the results and both
reports, with no file of quantarena touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import quantarena

PLUGINS = Path(__file__).resolve().parent / "plugins"

pytestmark = pytest.mark.slow


def test_the_toy_is_not_there_without_its_entry_point() -> None:
    listing = quantarena("list")
    assert "toy:fp32" not in listing.stdout


def test_a_plugin_toolchain_runs_end_to_end(
    tmp_path: Path, sample_dir: Path, cache_dir: Path
) -> None:
    listing = quantarena("list", pythonpath=PLUGINS)
    assert listing.returncode == 0, listing.stderr
    assert "toy:fp32" in listing.stdout and "a plug-in" in listing.stdout
    out = tmp_path / "run"
    result = quantarena(
        "run",
        "--variants",
        "onnxruntime:fp32,toy:fp32",
        "--data",
        str(sample_dir),
        "--out",
        str(out),
        "--cache-dir",
        str(cache_dir),
        "--calibration-images",
        "8",
        "--eval-images",
        "16",
        "--threads",
        "1",
        "--latency-min-seconds",
        "0.2",
        "--latency-max-seconds",
        "1",
        "--throughput-batches",
        "4",
        "--throughput-min-seconds",
        "0.2",
        "--throughput-max-seconds",
        "1",
        "--warmup-max-seconds",
        "0.2",
        "--rounds-max-seconds",
        "2",
        "--rounds-window-seconds",
        "0.1",
        pythonpath=PLUGINS,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    toy = next(v for v in data["variants"] if v["name"] == "toy:fp32")
    assert toy["status"] == "ok", toy.get("reason")
    assert toy["build"]["facts"]["copied_bytes"] > 1_000_000
    assert toy["runtime"]["plugin"] == "toy" and toy["recipe"] == {"spin": False}
    assert toy["accuracy"]["agreement_top1"] == 1.0  # the same FP32 graph as onnxruntime:fp32
    assert toy["latency_ms"]["p50"] > 0 and toy["baseline"] == "toy:fp32"
    assert "| toy:fp32 | ok |" in (out / "report.md").read_text()
    assert "toy:fp32" in (out / "report.html").read_text()
    assert "| toy:fp32 | ok |" in result.stdout  # the terminal table
