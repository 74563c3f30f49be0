"""``tune.md``: the final table carries the validation and the evaluation drop with their CIs, marks
the overall winner and a toolchain that misses the budget, shows only the knobs a trial moved
away from the plain recipe, and the acceptance rule and splits are stated."""

from __future__ import annotations

from pathlib import Path

from quantarena.tune.chart import PARETO_PNG
from quantarena.tune.select import ACCEPTANCE_RULE
from quantarena.tune.splits import SplitRecord
from quantarena.tune.table import knobs, render, write_markdown
from quantarena.tune.trials import Final, Score, Trial, TuneRecord


def _score(drop: float, ms: float | None) -> Score:
    return Score(images=300, top1=0.78, drop_pp=drop, drop_ci95_pp=[drop - 0.8, drop + 0.9],
                 mcnemar_p=0.4, latency_p50_ms=ms,
                 latency_p50_ci95_ms=None if ms is None else [ms - 0.01, ms + 0.01])


def _trial(variant: str, number: int, params: dict[str, object], drop: float,
           ms: float | None) -> Trial:
    return Trial(variant=variant, number=number, params=params, status="ok",
                 folder=f"trials/{number}", seconds=3.0, validation=_score(drop, ms))


def _record() -> TuneRecord:
    plain = {"calibration_method": "minmax", "calibration_images": 200}
    trials = [
        _trial("onnxruntime:int8", 0, plain, 0.0, 1.2),
        _trial("onnxruntime:int8", 1, {**plain, "calibration_method": "entropy"}, -0.0, 1.1),
        _trial("pytorch:int8-pt2e", 0, {"calibration_images": 200}, 1.5, 3.4),
    ]
    return TuneRecord(
        started_at="2026-11-23T12:00:00+00:00", config={"model": "mobilenet_v2"},
        max_drop_pp=0.25, acceptance_rule=ACCEPTANCE_RULE,
        splits=SplitRecord(calibration_images=200, validation_images=300, evaluation_images=500,
                           calibration_list_sha256="a", validation_list_sha256="b",
                           evaluation_list_sha256="c"),
        reference="pytorch:fp32", reference_validation_top1=0.78,
        reference_evaluation_top1=0.79, reference_latency_p50_ms=11.0, trials=trials,
        finals=[
            Final(variant="onnxruntime:int8", number=1, role="fastest within the budget on "
                  "onnxruntime", meets_budget=True, validation=_score(-0.0, 1.1),
                  evaluation=_score(0.4, 1.15)),
            Final(variant="pytorch:int8-pt2e", number=0, role="closest to the budget on pytorch "
                  "(misses it)", meets_budget=False, validation=_score(1.5, 3.4),
                  evaluation=_score(1.2, 3.5)),
        ],
        overall=("onnxruntime:int8", 1), stopped={"onnxruntime:int8": "trial budget of 2 reached"},
    )


def test_final_table_has_both_drops_with_cis_and_the_winner() -> None:
    text = render(_record())
    row = next(line for line in text.splitlines() if line.startswith("| onnxruntime:int8 #1"))
    assert "**(overall)**" in row and "calibration_method=entropy" in row
    assert "+0.00 [-0.80, +0.90]" in row  # validation, a zero loss never shown as -0.00
    assert "+0.40 [-0.40, +1.30]" in row  # evaluation
    assert "1.10 / 1.15" in row and "10.00×" in row
    missing = next(line for line in text.splitlines() if line.startswith("| pytorch:int8-pt2e #0"))
    assert "misses it" in missing and "(overall)" not in missing
    assert "-0.00" not in text
    assert "Fastest candidate within 0.25 pp: onnxruntime:int8 #1" in text
    assert ACCEPTANCE_RULE in text and "200 calibration, 300 validation, 500 evaluation" in text


def test_knobs_are_those_moved_from_the_plain_recipe() -> None:
    record = _record()
    plain, moved = record.of_variant("onnxruntime:int8")
    assert knobs(plain, plain) == "plain recipe"
    assert knobs(moved, plain) == "calibration_method=entropy"


def test_no_winner_is_said_plainly() -> None:
    record = _record().model_copy(update={"overall": None})
    assert "No candidate met the budget of 0.25 pp" in render(record)


def test_tune_md_shows_the_pareto_chart_of_every_timed_trial(tmp_path: Path) -> None:
    record = _record().model_copy(update={"pareto": [("onnxruntime:int8", 1)]})
    write_markdown(record, tmp_path)
    png = tmp_path / PARETO_PNG
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert f"]({PARETO_PNG})" in (tmp_path / "tune.md").read_text()
    page = (tmp_path / "report.html").read_text()  # the same content, one self-contained file
    assert "<table>" in page and "Acceptance rule" in page
    assert "data:image/png;base64," in page and f'src="{PARETO_PNG}"' not in page
    untimed = record.model_copy(update={"trials": [
        t.model_copy(update={"validation": t.validation.model_copy(  # type: ignore[union-attr]
            update={"latency_p50_ms": None})}) for t in record.trials], "pareto": [],
        "overall": None})
    (tmp_path / "none").mkdir()
    write_markdown(untimed, tmp_path / "none")
    assert not (tmp_path / "none" / PARETO_PNG).exists()
    assert PARETO_PNG not in (tmp_path / "none" / "tune.md").read_text()
