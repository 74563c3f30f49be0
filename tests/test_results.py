from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantarena.errors import ResultsError
from quantarena.report.markdown import render_markdown
from quantarena.results.environment import fingerprint
from quantarena.results.io import load_results, save_results
from quantarena.results.schema import DatasetInfo, ModelInfo, Results, Tool, VariantResult


def make_results() -> Results:
    return Results(
        tool=Tool(version="0.1.0"),
        started_at="2026-01-01T00:00:00+00:00",
        config={"threads": 2},
        environment=fingerprint(2, None, ["onnxruntime"]),
        model=ModelInfo(
            name="m",
            source="torchvision",
            weights="W",
            pretrained=True,
            input_shape=[3, 8, 8],
            preprocessing={},
        ),
        dataset=DatasetInfo(
            name="d",
            root="/d",
            layout="labels-csv",
            eval_images=10,
            calibration_images=5,
            eval_list_sha256="a",
            calibration_list_sha256="b",
            seed=0,
        ),
        reference="x:fp32",
        variants=[
            VariantResult(
                name="x:fp32",
                toolchain="x",
                precision="fp32",
                status="ok",
                accuracy={"images": 10, "top1": 0.8, "top5": 0.9},
            ),
            VariantResult(
                name="x:int8",
                toolchain="x",
                precision="int8",
                status="failed",
                reason="worker crashed (SIGSEGV)",
            ),
        ],
    )


def test_round_trip_and_markdown(tmp_path: Path) -> None:
    results = make_results()
    save_results(results, tmp_path)
    loaded = load_results(tmp_path)
    assert loaded == results
    text = render_markdown(loaded)
    assert "| x:fp32 | ok | 80.00% | ref |" in text
    assert "failed: worker crashed (SIGSEGV)" in text


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    save_results(make_results(), tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    data["schema_version"] = "9.0"
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="schema version"):
        load_results(tmp_path)
    with pytest.raises(ResultsError, match="no results"):
        load_results(tmp_path / "elsewhere")


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def test_fingerprint_names_cpu_features_and_versions() -> None:
    env = fingerprint(2, None, ["onnxruntime", "not-a-package"])
    flags = _cpu_flags()
    # Each recorded ISA flag says what this CPU really has (VNNI decides INT8 speed and accuracy).
    for flag in ("avx2", "avx512f", "avx512_vnni", "avx_vnni"):
        assert env.cpu.isa[flag] is (flag in flags), flag
    assert env.cpu.isa["avx2"]  # every machine of this project has AVX2
    assert env.packages["onnxruntime"] and env.packages["not-a-package"] is None
    assert env.threads == 2 and env.load_before is not None


def test_results_of_schema_1_are_migrated(tmp_path: Path) -> None:
    """A 1.x file: CPU seconds per image lived in ``energy``; no baseline was recorded."""
    results = make_results()
    data = json.loads(results.model_dump_json())
    data["schema_version"] = "1.0"
    for variant in data["variants"]:  # keys that 1.x did not write
        for key in ("baseline", "cpu_time", "energy"):
            variant.pop(key, None)
    latency = {
        "batch": 1,
        "iterations": 10,
        "seconds": 1.0,
        "mean": 2.0,
        "std": 0.1,
        "min": 1.8,
        "p50": 2.0,
        "p90": 2.2,
        "p99": 2.4,
        "max": 2.5,
        "cv": 0.05,
        "p50_ci95": [1.9, 2.1],
        "stop_reason": "ci_target",
        "warmup_iterations": 5,
        "warmup_stable": True,
    }
    data["variants"][0].update(
        {
            "energy": {
                "window_s": 3.0,
                "images": 640,
                "cpu_seconds_per_image": 0.004,
                "batch": 32,
                "unavailable": "no RAPL (/sys/class/powercap) or NVML energy counter readable here",
            },
            "contention": {
                "window_s": 5.0,
                "others_cpu_percent": 1.0,
                "own_cpu_percent": 90.0,
                "warning": None,
            },
            "build": {"seconds": 1.0, "calibration_images": 0},
            "latency_ms": latency,
        }
    )
    (tmp_path / "results.json").write_text(json.dumps(data))
    loaded = load_results(tmp_path)
    assert loaded.schema_version.startswith("2.")
    fp32 = loaded.variant("x:fp32")
    assert (
        fp32.cpu_time is not None
        and fp32.cpu_time.seconds_per_image == 0.004
        and fp32.cpu_time.batch == 32
    )
    assert fp32.energy is None  # no joules were measured
    assert fp32.build is not None and fp32.build.facts == {}
    assert fp32.baseline == "x:fp32"
    assert loaded.variant("x:int8").baseline is None
    data["schema_version"] = "0.3"
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="cannot read"):
        load_results(tmp_path)
