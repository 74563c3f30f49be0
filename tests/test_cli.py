"""The command line: imports nothing heavy, prints one clear line on bad input, exits non-zero."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import quantarena
from quantarena.toolchains.registry import DEFAULT_VARIANTS


def test_import_and_help_load_no_runtime_or_plotting_library() -> None:
    code = (
        "import sys, quantarena, quantarena.cli, quantarena.report.html, "
        "quantarena.report.compare, "
        "quantarena.report.charts_png, quantarena.report.markdown, quantarena.toolchains\n"
        "quantarena.toolchains.all_variants()\n"
        "try:\n    quantarena.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'openvino', 'tensorrt', 'nncf', 'modelopt', "
        "'plotly', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout
    assert "HEAVY []" in out


def test_run_help_shows_every_default() -> None:
    out = "".join(quantarena("run", "--help").stdout.split())  # wrapping moves spaces, not text
    for text in (
        "mobilenet_v2",
        ",".join(DEFAULT_VARIANTS),
        "--latency-target-ci",
        "(default:200)",
    ):
        assert text in out


def test_list_reports_each_variant() -> None:
    result = quantarena("list")
    assert result.returncode == 0
    assert "onnxruntime:int8" in result.stdout and "pytorch:fp32" in result.stdout


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["run", "--variants", "onnxruntime:int3"], "unknown variant 'onnxruntime:int3'", 2),
        (["run", "--variants", "tflite:int8"], "unknown toolchain 'tflite'", 2),
        (["run", "--data", "/nonexistent/data"], "dataset folder not found", 3),
        (["run", "--threads", "zero"], "threads", 2),
        (["run", "--recipe", "onnxruntime:int8=3"], "VARIANT.KNOB=VALUE", 2),
        (["report", "/nonexistent/run"], "no results found", 6),
        (["run", "--recipe", "onnxruntime:int8.calibration_method=[x"], "not valid YAML", 2),
        (["run", "--config", "/"], "cannot read config file", 2),
        (["run", "--seed", "-1"], "seed", 2),
        (["run", "--threads", "0"], "threads", 2),
    ],
)
def test_bad_input_is_one_line_and_nonzero(args: list[str], message: str, code: int) -> None:
    result = quantarena(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_model_fails_cleanly(tmp_path: Path, sample_dir: Path) -> None:
    result = quantarena(
        "run", "--model", "resnet5O", "--data", str(sample_dir), "--out", str(tmp_path / "r")
    )
    assert result.returncode == 4
    assert "unknown torchvision classifier 'resnet5O'" in result.stderr
    assert "Traceback" not in result.stderr
