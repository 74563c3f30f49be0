"""``quantarena tune`` through the real CLI on real images with ONNX Runtime: trials built and
measured in workers and kept in tune.json, the plain recipe first, the chosen candidate measured
once on the evaluation split; no trial or reference measurement reads an evaluation image (the
job files say what each worker read); a rerun continues the search without rebuilding; bad input
is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import quantarena
from quantarena.data.dataset import Sample
from quantarena.data.split import list_sha256
from quantarena.tune.trials import TuneRecord


def _one_error_line(result: object, code: int, text: str) -> None:
    assert result.returncode == code, result.stderr  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0]
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]


def test_bad_tune_input_is_one_line_and_exit_2(tmp_path: Path, sample_dir: Path) -> None:
    result = quantarena("tune", "--variants", "onnxruntime:fp32", "--out", str(tmp_path / "a"),
                        "--data", str(sample_dir))
    _one_error_line(result, 2, "declares no search space")
    assert "onnxruntime:int8" in result.stderr  # the message lists what can be tuned
    result = quantarena("tune", "--max-drop", "-1", "--out", str(tmp_path / "b"))
    _one_error_line(result, 2, "--max-drop")
    foreign = tmp_path / "c"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = quantarena("tune", "--variants", "onnxruntime:int8", "--out", str(foreign),
                        "--data", str(sample_dir))
    _one_error_line(result, 2, "holds no tune.json")
    assert (foreign / "notes.txt").read_text() == "mine"


def _jobs(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in folder.rglob("*.job.json")]


def _split_names(cache_file: str) -> list[str]:
    sidecar = json.loads(Path(cache_file).with_suffix(".json").read_text())
    return [str(name) for name in sidecar["files"]]


@pytest.mark.slow
def test_tune_onnxruntime_searches_chooses_evaluates_once_and_continues(
    tmp_path: Path, sample_dir: Path
) -> None:
    out = tmp_path / "tune"
    # A budget no trial can miss on 40 images (one image is 2.5 points): this test is about the
    # search's mechanics; choosing and falling back have their own tests.
    args = ["tune", "--variants", "onnxruntime:int8", "--max-drop", "50",
            "--calibration-images", "24", "--validation-images", "40", "--eval-images", "40",
            "--data", str(sample_dir), "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    result = quantarena(*args, "--max-trials", "2", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    record = TuneRecord.model_validate_json((out / "tune.json").read_text())
    trials = record.of_variant("onnxruntime:int8")
    assert [t.number for t in trials] == [0, 1]
    plain = trials[0].params
    assert plain["calibration_method"] == "minmax" and plain["calibration_images"] == 24
    for trial in trials:
        assert trial.status == "ok" and trial.validation is not None and trial.row is not None
        assert trial.validation.images == 40 and trial.validation.latency_p50_ms
        assert trial.row.recipe["calibration_images"] == trial.params["calibration_images"]
        assert (out / trial.folder / str(trial.row.artifact.path)).exists()  # type: ignore[union-attr]
    assert record.reference == "pytorch:fp32" and record.reference_row is not None
    assert len(record.finals) == 1
    final = record.finals[0]
    assert final.evaluation is not None and final.evaluation.images == 40
    chosen = record.trial((final.variant, final.number))
    assert final.validation == chosen.validation
    assert final.meets_budget and record.overall == (final.variant, final.number)
    assert chosen.validation is not None and chosen.validation.drop_pp <= 50

    # No peeking: every worker before the final phase read the validation split, only the final
    # phase read the evaluation split, and the two hold different images (as recorded).
    searching = _jobs(out / "reference") + _jobs(out / "trials")
    measured = {str(j["evaluation"]) for j in searching if j["kind"] == "measure"}
    assert len(measured) == 1
    validation_file = measured.pop()
    finals = {str(j["evaluation"]) for j in _jobs(out / "final")}
    assert len(finals) == 1 and validation_file not in finals
    validation, evaluation = _split_names(validation_file), _split_names(finals.pop())
    assert not set(validation) & set(evaluation)
    as_samples = [Sample(Path(n), 0) for n in validation]
    assert list_sha256(as_samples) == record.splits.validation_list_sha256
    assert list_sha256([Sample(Path(n), 0) for n in evaluation]) == (
        record.splits.evaluation_list_sha256)
    assert "Acceptance rule" in (out / "tune.md").read_text()

    # A rerun into the same folder continues: two trials kept, one more measured, nothing rebuilt.
    built = {t.number: (out / t.folder / str(t.row.artifact.path)).stat().st_mtime_ns  # type: ignore[union-attr]
             for t in trials}
    result = quantarena(*args, "--max-trials", "3", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    again = TuneRecord.model_validate_json((out / "tune.json").read_text())
    assert [t.number for t in again.of_variant("onnxruntime:int8")] == [0, 1, 2]
    assert again.trials[:2] == record.trials
    for trial in trials:
        artifact = out / trial.folder / str(trial.row.artifact.path)  # type: ignore[union-attr]
        assert artifact.stat().st_mtime_ns == built[trial.number]
    assert "continuing the search" in result.stdout

    # Other settings cannot reuse these trials.
    result = quantarena(*args, "--seed", "1", timeout=600)
    _one_error_line(result, 2, "other settings")
