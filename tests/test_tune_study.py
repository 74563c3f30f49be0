"""``quantarena tune --study calibration``: the grid of each recipe comes from its declared space
(methods from its ``calibration_method`` choice, counts for its split-bounded count knob), bad
counts, studies and variants are one line and exit 2, tune.json keeps the study (and files
written before it existed still load), tune.md and the chart show every point; and a real small
study on real images measures every point on the validation split, then a rerun measures
nothing new."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import quantarena
from quantarena.errors import ConfigError
from quantarena.toolchains import parse_variant
from quantarena.tune.select import ACCEPTANCE_RULE
from quantarena.tune.splits import SplitRecord
from quantarena.tune.study_chart import CALIBRATION_PNG, draw_study
from quantarena.tune.study_plan import (
    StudySettings,
    calibration_knobs,
    estimate_seconds,
    parse_study,
    study_grid,
)
from quantarena.tune.study_table import repeats
from quantarena.tune.table import render, write_markdown
from quantarena.tune.trials import (
    Score,
    StudyPoint,
    StudyRecord,
    Trial,
    TuneRecord,
    load_record,
    save_record,
)

CALIBRATION = StudySettings("calibration")
DEFAULTS = ["onnxruntime:int8", "openvino:int8", "pytorch:int8-pt2e", "tensorrt:int8-simulated"]


def _calibrator(variant: str) -> str:
    toolchain, name = parse_variant(variant)
    return toolchain.recipes[name].default_calibrator


def _grid(variant: str, split: int = 200) -> list[tuple[str, int, dict[str, object]]]:
    return [(p.method, p.images, p.params) for p in study_grid(CALIBRATION, [variant], split)]


def test_grid_per_recipe_comes_from_its_declared_space() -> None:
    ort = _grid("onnxruntime:int8")
    assert [(m, n) for m, n, _ in ort] == [
        (m, n) for m in ("minmax", "entropy", "percentile") for n in (8, 32, 128, 200)]
    assert ort[5][2] == {"calibration_method": "entropy", "calibration_images": 32}
    trt = _grid("tensorrt:int8-simulated")
    assert [(m, n) for m, n, _ in trt] == [
        (m, n) for m in ("entropy", "max") for n in (8, 32, 128, 200)]
    # no method knob: one line, named after the recipe's own calibrator; OpenVINO counts with
    # subset_size
    assert _grid("openvino:int8") == [
        (_calibrator("openvino:int8"), n, {"subset_size": n}) for n in (8, 32, 128, 200)]
    assert _grid("pytorch:int8-pt2e") == [
        (_calibrator("pytorch:int8-pt2e"), n, {"calibration_images": n})
        for n in (8, 32, 128, 200)]
    assert "HistogramObserver" in _calibrator("pytorch:int8-pt2e")
    # the default counts are those that fit the split, then the whole split
    assert [n for _, n, _ in _grid("pytorch:int8-pt2e", 500)] == [8, 32, 128, 500]
    assert [n for _, n, _ in _grid("pytorch:int8-pt2e", 100)] == [8, 32, 100]
    assert len(study_grid(CALIBRATION, DEFAULTS, 200)) == 12 + 4 + 4 + 8


def test_every_declared_point_builds_a_recipe() -> None:
    for point in study_grid(CALIBRATION, DEFAULTS, 200):
        toolchain, name = parse_variant(point.variant)
        recipe = toolchain.parse_recipe(name, point.params)
        assert all(getattr(recipe, k) == v for k, v in point.params.items())


def test_the_count_studied_is_the_split_bounded_one() -> None:
    toolchain, name = parse_variant("pytorch:int8-qat")
    method, count = calibration_knobs(toolchain.recipes[name])
    assert method is None and count is not None and count.knob == "calibration_images"


def test_bad_study_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown study 'precision'"):
        parse_study("precision", None, None)
    with pytest.raises(ConfigError, match="whole numbers"):
        parse_study("calibration", "8,many", None)
    with pytest.raises(ConfigError, match="each count once"):
        parse_study("calibration", "8,8", None)
    with pytest.raises(ConfigError, match="needs --study"):
        parse_study(None, "8", None)
    assert parse_study("calibration", "32,8", 0.5) == StudySettings("calibration", (8, 32), 0.5)
    with pytest.raises(ConfigError, match="up to 200"):
        study_grid(StudySettings("calibration", (8, 256)), ["onnxruntime:int8"], 200)
    with pytest.raises(ConfigError, match="no calibration-image count"):
        study_grid(CALIBRATION, ["onnxruntime:fp32"], 200)


def test_estimate_is_scaled_by_the_points_measured_before() -> None:
    grid = study_grid(CALIBRATION, DEFAULTS, 200)
    plain = estimate_seconds(grid, {})
    assert 6 * 60 < plain < 12 * 60  # 8.7 min measured on the 2-core EPYC
    slower = estimate_seconds(grid, {"onnxruntime:int8": 2.0})
    ort = [p for p in grid if p.variant == "onnxruntime:int8"]
    assert slower == pytest.approx(plain + estimate_seconds(ort, {}))


def _one_error_line(result: object, text: str) -> None:
    assert result.returncode == 2, result.stderr  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]


def test_bad_study_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "study")]
    _one_error_line(quantarena("tune", "--study", "precision", *out), "unknown study")
    _one_error_line(quantarena("tune", "--study", "calibration", "--study-counts", "8,300",
                               *out), "up to 200")
    _one_error_line(quantarena("tune", "--study", "calibration", "--variants",
                               "onnxruntime:fp32", *out), "no calibration-image count")
    assert not (tmp_path / "study").exists()  # refused before anything was written


def _score(drop: float, ms: float | None = 1.0) -> Score:
    return Score(images=300, top1=0.7, drop_pp=drop, drop_ci95_pp=[drop - 1.0, drop + 1.5],
                 mcnemar_p=0.5, latency_p50_ms=ms,
                 latency_p50_ci95_ms=None if ms is None else [ms - 0.1, ms + 0.1])


def _point(variant: str, method: str, images: int, drop: float) -> StudyPoint:
    knob = "subset_size" if variant.startswith("openvino") else "calibration_images"
    params = {knob: images} if method.endswith("(default)") else {
        "calibration_method": method, knob: images}
    # entropy builds what minmax builds (as ONNX Runtime 1.31's default entropy calibrator did)
    built = f"{variant}-{'minmax' if method == 'entropy' else method}-{images}"
    return StudyPoint(variant=variant, method=method, images=images, params=params, status="ok",
                      folder=f"study/{images}", seconds=4.0, validation=_score(drop),
                      artifact_sha256=built)


def _record(trials: list[Trial] | None = None) -> TuneRecord:
    ov = _calibrator("openvino:int8")
    points = [_point("onnxruntime:int8", m, n, d) for m, n, d in (
        ("entropy", 8, 1.0), ("minmax", 32, -0.5), ("minmax", 8, 1.0), ("entropy", 32, -0.5),
        ("percentile", 8, 2.0))]
    points += [_point("openvino:int8", ov, n, d) for n, d in ((8, 0.7), (32, 0.3))]
    return TuneRecord(
        started_at="2026-11-24T10:00:00+00:00", config={"model": "mobilenet_v2"},
        max_drop_pp=0.5, acceptance_rule=ACCEPTANCE_RULE,
        splits=SplitRecord(calibration_images=32, validation_images=300, evaluation_images=500,
                           calibration_list_sha256="a", validation_list_sha256="b",
                           evaluation_list_sha256="c"),
        reference="pytorch:fp32", reference_validation_top1=0.72, trials=trials or [],
        study=StudyRecord(variants=["onnxruntime:int8", "openvino:int8"], counts=[8, 32],
                          budget_pp=0.5, points=points, started_at="2026-11-24T10:00:00+00:00",
                          seconds=24.0),
    )


def test_study_section_lists_every_point_as_a_delta_with_its_ci() -> None:
    text = render(_record(), study_chart=CALIBRATION_PNG)
    rows = [line for line in text.splitlines() if line.startswith("| onnxruntime:int8")]
    # grid order: the declared methods' order, then counts
    assert [r.split(" | ")[1:3] for r in rows] == [
        ["minmax", "8"], ["minmax", "32"], ["entropy", "8"], ["entropy", "32"],
        ["percentile", "8"]]
    assert "| -2.00 [-3.50, -1.00] | 1.00 |" in rows[4]  # a 2-point drop is Δ -2.00
    assert "| +0.50 [-1.00, +1.50] |" in rows[3]
    assert "onnxruntime:int8 entropy built the same model as minmax, byte for byte, at 8, 32" in (
        text)
    assert repeats(_record().study.points, "onnxruntime:int8") == {  # type: ignore[union-attr]
        "entropy": "minmax"}
    assert "NNCF mean min/max (default)" in text and "## Calibration study" in text
    assert f"![Δ top-1 vs calibration images and method]({CALIBRATION_PNG})" in text
    assert "Acceptance rule" not in text  # a study alone chose nothing
    assert "budget line at −0.5 pp" in text


def test_a_folder_with_a_search_and_a_study_shows_both() -> None:
    trial = Trial(variant="onnxruntime:int8", number=0, params={}, status="ok", folder="t/0",
                  seconds=3.0, validation=_score(0.0))
    text = render(_record([trial]))
    assert "## Search" in text and "## Calibration study" in text and "Acceptance rule" in text


def test_chart_and_report_are_written(tmp_path: Path) -> None:
    record = _record()
    assert draw_study(record, tmp_path) == tmp_path / CALIBRATION_PNG
    write_markdown(record, tmp_path)
    assert (tmp_path / CALIBRATION_PNG).stat().st_size > 10_000
    html = (tmp_path / "report.html").read_text()
    assert "Calibration study" in html and "data:image/png;base64," in html


def test_tune_json_keeps_the_study_and_loads_files_written_before_it(tmp_path: Path) -> None:
    record = _record()
    save_record(record, tmp_path)
    assert load_record(tmp_path) == record
    older = json.loads((tmp_path / "tune.json").read_text())
    del older["study"]  # as written before studies existed
    (tmp_path / "tune.json").write_text(json.dumps(older))
    loaded = load_record(tmp_path)
    assert loaded is not None and loaded.study is None


def _artifacts(out: Path, record: TuneRecord) -> dict[str, int]:
    assert record.study is not None
    return {p.folder: (out / p.folder / str(p.row.artifact.path)).stat().st_mtime_ns  # type: ignore[union-attr]
            for p in record.study.points}


@pytest.mark.slow
def test_real_study_measures_every_point_on_validation_and_resumes(
    tmp_path: Path, sample_dir: Path
) -> None:
    out = tmp_path / "study"
    args = ["tune", "--study", "calibration", "--variants", "onnxruntime:int8",
            "--study-counts", "8,16", "--calibration-images", "16", "--validation-images", "24",
            "--eval-images", "8", "--max-drop", "1", "--data", str(sample_dir),
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    result = quantarena(*args, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "calibration study: 6 points (onnxruntime:int8 6) at 8, 16 calibration images" in (
        result.stdout)
    record = TuneRecord.model_validate_json((out / "tune.json").read_text())
    study = record.study
    assert study is not None and study.finished_at is not None and study.budget_pp == 1.0
    assert not record.trials and not record.finals  # instead of the search
    assert [(p.method, p.images) for p in study.points] == [
        (m, n) for m in ("minmax", "entropy", "percentile") for n in (8, 16)]
    for point in study.points:
        assert point.status == "ok" and point.validation is not None and point.row is not None
        assert point.validation.images == 24 and point.artifact_sha256 is not None
        assert point.row.recipe["calibration_method"] == point.method
        assert point.row.recipe["calibration_images"] == point.images
        assert point.row.build is not None
        assert point.row.build.facts["calibration_images_used"] == point.images
        lo, hi = point.validation.drop_ci95_pp
        assert lo <= point.validation.drop_pp <= hi
    # the evaluation split was never even preprocessed; every worker read the validation split
    assert not list((tmp_path / "cache").glob("*evaluation*"))
    jobs = [json.loads(p.read_text()) for p in (out / "study").rglob("*.job.json")]
    assert {j["evaluation"] for j in jobs if j["kind"] == "measure"} == {
        j["evaluation"] for j in (json.loads(p.read_text())
                                  for p in (out / "reference").rglob("*.job.json"))
        if j["kind"] == "measure"}
    assert (out / CALIBRATION_PNG).stat().st_size > 10_000
    assert "## Calibration study" in (out / "tune.md").read_text()
    assert "onnxruntime:int8: Δ top-1 from" in result.stdout

    built = _artifacts(out, record)
    again = quantarena(*args, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "6 kept from an earlier attempt" in again.stdout
    assert "calibration study: 6 point(s) kept, 0 measured" in again.stdout
    rerun = TuneRecord.model_validate_json((out / "tune.json").read_text())
    assert rerun.study is not None and rerun.study.points == study.points
    assert _artifacts(out, rerun) == built
