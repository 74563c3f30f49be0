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
        tool=Tool(version="0.1.0"), started_at="2026-01-01T00:00:00+00:00", config={"threads": 2},
        environment=fingerprint(2, None, ["onnxruntime"]),
        model=ModelInfo(name="m", source="torchvision", weights="W", pretrained=True, input_shape=[3, 8, 8], preprocessing={}),
        dataset=DatasetInfo(name="d", root="/d", layout="labels-csv", eval_images=10, calibration_images=5,
                            eval_list_sha256="a", calibration_list_sha256="b", seed=0),
        reference="x:fp32",
        variants=[
            VariantResult(name="x:fp32", toolchain="x", precision="fp32", status="ok",
                          accuracy={"images": 10, "top1": 0.8, "top5": 0.9}),
            VariantResult(name="x:int8", toolchain="x", precision="int8", status="failed", reason="worker crashed (SIGSEGV)"),
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


def test_fingerprint_names_cpu_features_and_versions() -> None:
    env = fingerprint(2, None, ["onnxruntime", "not-a-package"])
    assert "avx512_vnni" in env["cpu"]["isa"]
    assert env["packages"]["onnxruntime"] and env["packages"]["not-a-package"] is None
