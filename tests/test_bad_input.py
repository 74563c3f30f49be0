"""Bad input, one row of the issue each: the real ``quantarena`` command ends in one line on stderr
and the documented exit code, never a traceback; what is allowed but hurts the numbers (more
threads than CPUs, a time cap reached before the minimum count) says so instead of passing as a
well-measured row.

Everything here takes seconds, except ``test_row8_oversubscribed_short_run_warns_and_notes``,
which runs one real variant of a tiny ONNX model with the time caps near zero.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import quantarena.cli as cli_module
from cli_helpers import quantarena
from quantarena import errors
from quantarena.cli import main
from quantarena.config import RunConfig, usable_cpus
from quantarena.errors import ConfigError, ModelError, OutputError, QuantarenaError, ResultsError
from quantarena.measure.latency import time_calls
from quantarena.outdir import ensure_output_dir, output_error
from quantarena.results.io import load_results
from quantarena.results.measurements import Latency, Throughput
from quantarena.runner.plan import plan_variants
from quantarena.toolchains import registered_toolchains

REPO = Path(__file__).resolve().parents[1]
FIXTURE_RUN = Path(__file__).resolve().parent / "fixtures" / "results-v1"


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The command's only stderr line, after checking the exit code and that no traceback came."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


# --- rows 6 and 7: calibration counts out of range ----------------------------------------------


@pytest.mark.parametrize("value", ["-5", "0"])
def test_rows_6_7_calibration_images_out_of_range_is_a_config_error(
    value: str, tmp_path: Path
) -> None:
    result = quantarena(
        "run", "--variants", "onnxruntime:int8",
        "--recipe", f"onnxruntime:int8.calibration_images={value}",
        "--out", str(tmp_path / "run"),
        cwd=tmp_path,
    )
    line = one_error_line(result, 2)
    assert "onnxruntime:int8" in line and "calibration_images" in line
    assert "greater than or equal to 1" in line
    assert not (tmp_path / "run").exists()  # refused before anything was made


def _calibration_knobs() -> list[tuple[str, str]]:
    """(variant, knob) for every recipe of every toolchain that takes a calibration count."""
    return [
        (f"{t.name}:{name}", knob)
        for t in registered_toolchains()
        for name, recipe in t.recipes.items()
        for knob in ("calibration_images", "subset_size", "ranking_subset_size")
        if knob in recipe.model_fields
    ]


@pytest.mark.parametrize(("variant", "knob"), _calibration_knobs())
@pytest.mark.parametrize("value", [0, -5])
def test_every_calibration_count_is_at_least_one(variant: str, knob: str, value: int) -> None:
    expected = rf"recipe of {re.escape(variant)}: {knob}: .*greater than or equal to 1"
    with pytest.raises(ConfigError, match=expected):
        plan_variants(RunConfig(variants=[variant], recipes={variant: {knob: value}}))


def test_the_calibration_knobs_found_cover_each_calibrating_toolchain() -> None:
    variants = {variant for variant, _ in _calibration_knobs()}
    calibrating = {
        f"{t.name}:{name}"
        for t in registered_toolchains()
        for name, recipe in t.recipes.items()
        if recipe.calibrates
    }
    assert calibrating <= variants, calibrating - variants


@pytest.mark.parametrize(
    ("variant", "knobs"),
    [
        ("onnxruntime:int8", {"calibration_batch": 0}),
        ("openvino:int8-accuracy-control", {"max_drop": 1.5}),
        ("openvino:int8-accuracy-control", {"validation_fraction": 1.0}),
        ("tensorrt:int8", {"max_batch": 0}),
        ("tensorrt:int8", {"opt_batch": 128}),  # above the default max_batch (64)
    ],
)
def test_other_recipe_knobs_out_of_range_are_config_errors(
    variant: str, knobs: dict[str, object]
) -> None:
    with pytest.raises(ConfigError, match=f"recipe of {re.escape(variant)}"):
        plan_variants(RunConfig(variants=[variant], recipes={variant: knobs}))


# --- row 8: more threads than CPUs, and a pass cut short by its time cap -------------------------


def test_row8_threads_above_the_usable_cpus_is_one_warning() -> None:
    usable = usable_cpus()
    assert RunConfig().warnings() == []  # the default never warns
    (line,) = RunConfig(threads=len(usable) + 1).warnings()
    assert f"--threads {len(usable) + 1}" in line and f"{len(usable)} usable CPU" in line
    (pinned,) = RunConfig(threads=2, pin_cpus=usable[:1]).warnings()
    assert "1 pinned CPU" in pinned


def test_row8_a_single_timed_call_has_no_ci_and_a_note() -> None:
    latency = Latency.from_samples(
        [0.02], batch=1, seconds=0.02, stop_reason="time_cap", warmup_iterations=5,
        warmup_stable=False, min_iterations=50,
    )
    assert latency.p50_ci95 == []  # not [20.0, 20.0]
    assert latency.row_notes() == [
        "only 1 batch-1 call was timed (minimum 50): the time cap was reached; "
        "the CI is not meaningful"
    ]
    rate = Throughput.from_latency(latency)
    assert rate.images_per_s_ci95 == [] and rate.min_iterations == 50
    assert "only 1 throughput batch of 1 was timed (minimum 50)" in rate.row_notes()[0]


def test_row8_enough_calls_have_a_ci_and_no_note() -> None:
    times = np.random.default_rng(0).uniform(0.010, 0.012, 60)  # steady, no drift
    latency = Latency.from_samples(
        times, batch=1, seconds=1.0, stop_reason="ci_target", warmup_iterations=5,
        warmup_stable=True, min_iterations=50,
    )
    assert len(latency.p50_ci95) == 2 and latency.p50_ci95[0] < latency.p50_ci95[1]
    assert latency.row_notes() == []


def test_row8_time_calls_records_its_minimum_when_the_cap_cuts_it_short() -> None:
    def slow(_: np.ndarray) -> None:
        time.sleep(0.002)

    latency = time_calls(
        slow, [np.zeros((1, 1), np.float32)], min_iterations=50, min_seconds=0,
        max_seconds=0.001, target_ci=0.01, warmup_max_seconds=0,
    )
    assert latency.iterations == 1 and latency.min_iterations == 50
    assert latency.stop_reason == "time_cap" and latency.p50_ci95 == []
    assert "minimum 50" in latency.row_notes()[0]


def _tiny_onnx(path: Path) -> Path:
    """A 1000-class "classifier" on 8x8 images (average pool + one matrix): a real ONNX file
    that every step of a run accepts, and whose calls take microseconds."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((3, 1000)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weight"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        [numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.slow
def test_row8_oversubscribed_short_run_warns_and_notes(sample_dir: Path, tmp_path: Path) -> None:
    threads = len(usable_cpus()) + 1  # one too many: enough to warn, harmless to run
    out = tmp_path / "run"
    result = quantarena(
        "run", "--model", str(_tiny_onnx(tmp_path / "tiny.onnx")),
        "--variants", "onnxruntime:fp32", "--data", str(sample_dir),
        "--calibration-images", "1", "--eval-images", "4", "--threads", str(threads),
        "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
        "--latency-min-seconds", "0", "--latency-max-seconds", "0.000001",
        "--warmup-max-seconds", "0", "--throughput-batches", "2",
        "--throughput-min-seconds", "0", "--throughput-max-seconds", "0.000001",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    # stderr also carries the data cache's progress bars; the warning is said once
    (line,) = [text for text in result.stderr.splitlines() if text.startswith("warning: ")]
    assert f"--threads {threads}" in line
    variant = load_results(out).variant("onnxruntime:fp32")
    assert variant is not None and variant.status == "ok" and variant.latency_ms is not None
    latency = variant.latency_ms
    assert latency.min_iterations == 50 and latency.iterations < 50
    notes = variant.measurement_notes()
    assert any(n.startswith(f"only {latency.iterations} batch-1 call") for n in notes), notes
    assert any("throughput batch" in n and "(minimum 5)" in n for n in notes), notes
    if latency.iterations < 6:
        assert latency.p50_ci95 == []


# --- row 11: the output folder ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["an existing file", "a path under a file"])
def test_row11_unusable_out_is_exit_7(where: str, tmp_path: Path, sample_dir: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    out = blocker if where == "an existing file" else blocker / "run"
    result = quantarena(
        "run", "--variants", "onnxruntime:fp32", "--data", str(sample_dir), "--out", str(out),
        cwd=tmp_path,
    )
    line = one_error_line(result, 7)
    assert str(blocker) in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_row11_read_only_out_is_exit_7(tmp_path: Path, sample_dir: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = quantarena(
        "run", "--variants", "onnxruntime:fp32", "--data", str(sample_dir),
        "--out", str(locked / "run"), cwd=tmp_path,
    )
    assert "Permission denied" in one_error_line(result, 7)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_row11_full_disk_is_exit_7(tmp_path: Path) -> None:
    result = quantarena(
        "compare", str(FIXTURE_RUN), str(FIXTURE_RUN), "--out", "/dev/full", cwd=tmp_path
    )
    assert "No space left on device" in one_error_line(result, 7)


def test_ensure_output_dir_creates_and_checks(tmp_path: Path) -> None:
    made = ensure_output_dir(tmp_path / "a" / "b")
    assert made.is_dir() and made.is_absolute() and list(made.iterdir()) == []
    assert ensure_output_dir(made) == made  # an existing folder is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="existing file"):
        ensure_output_dir(tmp_path / "file")
    with pytest.raises(OutputError, match="cannot write the output folder"):
        ensure_output_dir(tmp_path / "file" / "run")


def test_output_error_tells_output_from_other_oserrors(tmp_path: Path) -> None:
    out = tmp_path / "run"
    inside = output_error(PermissionError(errno.EACCES, "Permission denied", str(out / "x")), [out])
    assert inside is not None and inside.exit_code == 7 and str(out / "x") in str(inside)
    full = output_error(OSError(errno.ENOSPC, "No space left on device"), [out])
    assert full is not None and "No space left" in str(full)
    assert output_error(FileNotFoundError(errno.ENOENT, "gone", "/elsewhere/f"), [out]) is None


def test_main_keeps_the_traceback_of_an_unexpected_oserror(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_: object) -> int:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/not/ours")

    monkeypatch.setattr(cli_module, "cmd_list", broken)
    with pytest.raises(FileNotFoundError):
        main(["list"])


def test_main_prints_any_quantarena_error_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_: object) -> int:
        raise ModelError("cannot read weights file w.pth:\n\tline two\n\nline three")

    monkeypatch.setattr(cli_module, "cmd_list", broken)
    assert main(["list"]) == 4
    assert capsys.readouterr().err == "error: cannot read weights file w.pth: line two line three\n"


# --- row 13: a results file that is not a results object ---------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "does not hold a results object (it holds a JSON array)"),
        ('"text"', "it holds a JSON string"),
        ("{}", "schema version"),
        ('{"schema_version": "1.0", "variants": [1]}', "does not match"),
        ("{not json", "not valid JSON"),
    ],
)
def test_row13_report_on_a_bad_results_file_is_exit_6(
    content: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "results.json").write_text(content)
    assert message in one_error_line(quantarena("report", str(tmp_path)), 6)


def test_row13_unreadable_results_are_results_errors(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_bytes(bytes(range(128, 256)))
    with pytest.raises(ResultsError, match="cannot read"):
        load_results(tmp_path)
    folder = tmp_path / "nested"
    (folder / "results.json").mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(ResultsError, match="cannot read"):
        load_results(folder)
    (tmp_path / "array.json").write_text(json.dumps([]))
    with pytest.raises(ResultsError, match="JSON array"):
        load_results(tmp_path / "array.json")


# --- row 14: pinning to a CPU that is not there -------------------------------------------------


def test_row14_pin_to_an_unusable_cpu_is_exit_2(tmp_path: Path) -> None:
    usable = usable_cpus()
    missing = max(usable) + 1
    result = quantarena("run", "--pin-cpus", str(missing), cwd=tmp_path)
    line = one_error_line(result, 2)
    assert f"CPU {missing} is not usable here" in line
    assert f"usable CPUs: {','.join(str(c) for c in usable)}" in line


def test_pin_cpus_that_are_usable_are_kept() -> None:
    usable = usable_cpus()
    assert RunConfig(pin_cpus=usable).pin_cpus == usable
    with pytest.raises(ValueError, match="usable CPUs"):
        RunConfig(pin_cpus=[-1])


# --- row 15: a weights file that is not a state dict --------------------------------------------


def test_row15_random_bytes_as_weights_is_exit_4(tmp_path: Path, sample_dir: Path) -> None:
    weights = tmp_path / "random.pth"
    weights.write_bytes(np.random.default_rng(0).bytes(4096))
    result = quantarena(
        "run", "--weights", str(weights), "--variants", "onnxruntime:fp32",
        "--data", str(sample_dir), "--out", str(tmp_path / "run"),
        "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path,
    )
    line = one_error_line(result, 4)
    assert str(weights) in line
    # torch's own text advises loading with weights_only=False, which runs code from the file
    assert "False" not in line and "still be loaded" not in line


# --- the exit-code table ------------------------------------------------------------------------


def test_the_readme_exit_code_table_is_the_code() -> None:
    """Every error class's code is in the README's table with its meaning, and no two share one:
    the table users script against is the one the code enforces."""
    section = (REPO / "README.md").read_text().split("## Errors", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| (\d+(?: / \d+)?) \| (.+?) \|$", section, re.MULTILINE))
    classes = [
        cls for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, QuantarenaError) and cls is not QuantarenaError
    ]
    codes = [cls.exit_code for cls in classes]
    assert len(set(codes)) == len(codes), codes
    assert {"0", "1", "130 / 143"} <= set(table)
    for cls in classes:
        assert str(cls.exit_code) in table, cls.__name__
        docstring_row = rf"^{cls.exit_code}\s+.*``{cls.__name__}``"
        assert re.search(docstring_row, errors.__doc__ or "", re.MULTILINE), cls.__name__
    assert sorted(int(c) for c in table if c.isdigit()) == sorted([0, 1, *codes])
