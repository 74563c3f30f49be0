"""The model-coverage benchmark (``benchmarks/model_coverage.py``): its table and footnotes from a
real results file, and the script run for real on two small models, a model name that does not
exist, and a handful of variants."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from quantarena.results.io import load_results

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "model_coverage.py"
V1 = Path(__file__).parent / "fixtures" / "results-v1"
VARIANTS = [
    "pytorch:fp32",
    "pytorch:int8-pt2e",
    "onnxruntime:fp32",
    "onnxruntime:int8",
    "tensorrt:int8-simulated",
]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("model_coverage", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def coverage() -> ModuleType:
    return _load_script()


def test_table_and_footnotes_from_a_real_results_file(
    coverage: ModuleType, tmp_path: Path
) -> None:
    results = load_results(V1)
    long_reason = "torchao cannot export this model:\n" + "word " * 100 + "; use pytorch:int8-fx"
    listing = "no quantizable twin (it has: " + ", ".join(["resnet18"] * 30) + "); use fx"
    changed = results.model_copy(deep=True)
    for v in changed.variants:
        if v.name == "pytorch:int8-pt2e":
            v.status, v.reason, v.latency_ms = "unavailable", long_reason, None
        if v.name == "openvino:int8":
            v.status, v.reason, v.latency_ms = "failed", long_reason, None
        if v.name == "onnxruntime:int8":
            v.status, v.reason, v.latency_ms = "unavailable", listing, None
    runs = [
        coverage.ModelRun("mobilenet_v2", V1, "reused", results=results),
        coverage.ModelRun("mnv2_broken", tmp_path, "ran", results=changed),
        coverage.ModelRun(
            "nonesuch", tmp_path, "crashed", exit_code=2, wall_seconds=1.5,
            error="unknown model 'nonesuch'",
        ),
    ]
    variants = [v.name for v in results.variants]
    matrix, notes = coverage.build_matrix(runs, variants)

    row = matrix["mobilenet_v2"]
    # FP32 rows: p50 in ms; INT8 rows: p50 ratio over the baseline the results name
    assert row["pytorch:fp32"].text == "ok 27.2 ms"
    assert row["onnxruntime:int8"].baseline == "onnxruntime:fp32"
    assert row["onnxruntime:int8"].text == "ok 2.0×"  # 9.24 ms / 4.70 ms
    assert row["onnxruntime:int8"].speedup == pytest.approx(9.2427 / 4.6983, rel=1e-3)
    assert row["openvino:int8"].text == "ok 0.8×"  # slower than its FP32 baseline: said so
    simulated = row["tensorrt:int8-simulated"]
    assert simulated.status == "ok" and simulated.text.startswith("ok (accuracy only) [")
    assert notes.reasons[simulated.footnote - 1] == (
        "graph simulated on CPU with ONNX Runtime; not TensorRT speed"
    )

    broken = matrix["mnv2_broken"]
    assert broken["pytorch:int8-pt2e"].status == "unavailable"
    assert broken["openvino:int8"].status == "failed"
    # the same reason twice: one footnote, on one line, cut short
    assert broken["pytorch:int8-pt2e"].footnote == broken["openvino:int8"].footnote
    text = notes.reasons[broken["openvino:int8"].footnote - 1]
    assert text.startswith("torchao cannot export this model: word word")
    assert text.endswith(" word ; use pytorch:int8-fx")  # the advice at the end is kept
    assert "\n" not in text and " … " in text and len(text) <= coverage.REASON_CHARS
    # a long listing in parentheses goes first
    listed = notes.reasons[broken["onnxruntime:int8"].footnote - 1]
    assert listed == "no quantizable twin (…); use fx"
    assert broken["pytorch:int8-pt2e"].text == f"unavailable [{broken['openvino:int8'].footnote}]"

    crashed = matrix["nonesuch"]
    assert {c.status for c in crashed.values()} == {"failed"}
    assert {c.reason for c in crashed.values()} == {"unknown model 'nonesuch'"}
    assert len(notes.reasons) == 4

    table = coverage.markdown_table(runs, variants, matrix, notes)
    lines = table.splitlines()
    assert lines[0] == "| Model | Run time | " + " | ".join(variants) + " |"
    assert lines[2].startswith("| mobilenet_v2 | 7 min 38 s | ok 27.2 ms | ok 1.9× |")
    assert lines[4].startswith("| nonesuch | 2 s | failed [4] | failed [4] |")
    assert "4. unknown model 'nonesuch'" in lines

    coverage.write_coverage(tmp_path, runs, variants, ["--weights", "none"], 75.0)
    md = (tmp_path / "coverage.md").read_text()
    assert "- Machine: AMD EPYC (2 logical cores; ISA: avx2, fma), 2 threads" in md
    assert "- Total wall time: 1 min 15 s (this invocation); 1 of 3 models reused" in md
    data = json.loads((tmp_path / "coverage.json").read_text())
    assert data["models"][2]["outcome"] == "crashed"
    assert data["models"][0]["cells"]["onnxruntime:int8"]["status"] == "ok"


def test_error_line_keeps_the_one_line_that_says_why(coverage: ModuleType) -> None:
    stderr = "calibration:  50%|#####     | 8/16 [00:01<00:01, 6.0img/s]\rdone\nerror: boom\n"
    assert coverage.error_line(stderr, 2) == "boom"
    traceback = "Traceback (most recent call last):\n  File x\nRuntimeError: bad\n"
    assert coverage.error_line(traceback, 1) == "RuntimeError: bad"
    assert coverage.error_line("", -9).startswith("killed by SIGKILL (out of memory?)")


def test_variants_come_from_the_registry(coverage: ModuleType) -> None:
    """Every CPU variant quantarena knows, none that needs a GPU; QAT gets few steps."""
    from quantarena.toolchains.registry import all_variants, parse_variant

    def needs_gpu(variant: str) -> bool:
        toolchain, recipe = parse_variant(variant)
        return toolchain.recipes[recipe].needs.gpu

    found = coverage.cpu_variants()
    assert found == [v for v in all_variants() if not needs_gpu(v)]
    assert "tensorrt:int8-simulated" in found and "tensorrt:int8" not in found
    steps = coverage.steps_overrides(found, 4, [])
    assert "pytorch:int8-qat.steps=4" in steps
    assert coverage.steps_overrides(found, 4, ["pytorch:int8-qat.steps=9"]).count(
        "pytorch:int8-qat.steps=4"
    ) == 0


@pytest.mark.slow
def test_coverage_matrix_for_real(sample_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "coverage"
    command = [
        sys.executable, str(SCRIPT),
        "--models", "resnet18,squeezenet1_1,no_such_model",
        "--variants", ",".join(VARIANTS),
        "--out", str(out),
        "--data", str(sample_dir),
        "--cache-dir", str(cache_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[model 1/3] resnet18 (elapsed 0 s)" in done.stdout
    assert "[model 3/3] no_such_model (elapsed " in done.stdout

    data = json.loads((out / "coverage.json").read_text())
    assert data["variants"] == VARIANTS
    models = {m["model"]: m for m in data["models"]}
    for name in ("resnet18", "squeezenet1_1"):
        cells = models[name]["cells"]
        assert models[name]["outcome"] == "ran"
        for fp32 in ("pytorch:fp32", "onnxruntime:fp32"):
            assert cells[fp32]["status"] == "ok" and cells[fp32]["p50_ms"] > 0
            assert cells[fp32]["text"].startswith(f"ok {cells[fp32]['p50_ms']:.1f} ms")
        int8 = cells["onnxruntime:int8"]
        assert int8["status"] == "ok" and int8["baseline"] == "onnxruntime:fp32"
        fp32_ms = cells["onnxruntime:fp32"]["p50_ms"]
        assert int8["speedup"] == pytest.approx(fp32_ms / int8["p50_ms"])
        assert int8["text"].startswith(f"ok {int8['speedup']:.1f}×")
        assert cells["tensorrt:int8-simulated"]["text"].startswith("ok (accuracy only)")
        # the run folder is quantarena's own: its results load with the schema
        assert load_results(out / name).model.name == name
    missing = models["no_such_model"]
    assert missing["outcome"] == "crashed" and missing["exit_code"] not in (0, None)
    assert "no_such_model" in missing["error"] and "\n" not in missing["error"]
    assert {c["status"] for c in missing["cells"].values()} == {"failed"}

    md = (out / "coverage.md").read_text()
    assert "- Machine: " in md and "INT8 arithmetic: " in md and " threads" in md
    assert "--calibration-images 16 --eval-images 16" in md
    assert "| resnet18 | " in md and "| no_such_model | " in md
    assert f"{missing['cells']['pytorch:fp32']['footnote']}. {missing['error']}" in md
    assert md.split("| Model |")[1] in done.stdout  # the table is printed at the end

    # again: the finished runs are reused, the crashed model is tried again
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("finished results found, reused") == 2
    redone = json.loads((out / "coverage.json").read_text())
    assert [m["outcome"] for m in redone["models"]] == ["reused", "reused", "crashed"]
    assert redone["models"][0]["cells"] == models["resnet18"]["cells"]


def test_a_reason_listed_line_by_line_keeps_its_first_line(coverage: ModuleType) -> None:
    reason = "build: the Q/DQ graph breaks TensorRT's rules (35 violations):\n" + "\n".join(
        f"  /encoder/layer_{i}/Add: neither input is dequantized; quantize the residual input "
        "so TensorRT can fuse the add in INT8 [residual-add]" for i in range(10)
    ) + "\n  ... and 25 more"
    notes = coverage.Footnotes()
    assert notes.number(reason) == 1
    shown = notes.reasons[0]
    assert shown.startswith(
        "build: the Q/DQ graph breaks TensorRT's rules (35 violations): /encoder/layer_0/Add: "
        "neither input is dequantized"
    )
    assert shown.endswith("… (+10 more lines in results.json)")
    assert len(shown) <= coverage.REASON_CHARS


def test_one_reason_for_several_models_is_one_footnote(coverage: ModuleType) -> None:
    reason = "torchvision has no quantizable version of {} (eager mode needs one); use fx"
    notes = coverage.Footnotes()
    first = notes.number(coverage.generic(reason.format("vit_b_16"), "vit_b_16"))
    assert notes.number(coverage.generic(reason.format("swin_t"), "swin_t")) == first
    assert notes.reasons == [reason.format("the model")]
    quoted = "unknown torchvision classifier 'swin_x'"
    assert coverage.generic(quoted, "swin_x") == quoted
