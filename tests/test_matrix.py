"""quantarena merge: real runs of the same plan on two CPUs (AVX-512 VNNI and AVX2 without VNNI)
merged into a platform × variant matrix; what may not be merged is refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from quantarena.cli import main
from quantarena.matrix.model import Matrix
from quantarena.matrix.write import merge_runs

REPO = Path(__file__).resolve().parents[1]
#: this repository's demo run on an AVX-512 VNNI EPYC (results and predictions only)
VNNI_RUN = REPO / "tests" / "fixtures" / "mobilenet_v2-avx512-vnni-run"
#: the same plan on an AVX2 EPYC without VNNI, results schema 1.0
AVX2_RUN = REPO.parent / "shared" / "runs" / "mobilenet_v2-avx2-no-vnni"


def _matrix(out: Path) -> Matrix:
    return Matrix.model_validate_json((out / "matrix.json").read_text())


def _copy(run: Path, to: Path, **changes: object) -> Path:
    """A copy of ``run`` (results and predictions) with top-level blocks changed."""
    shutil.copytree(run, to)
    data = json.loads((to / "results.json").read_text())
    for dotted, value in changes.items():
        block, key = dotted.split("__")
        data[block][key] = value
    (to / "results.json").write_text(json.dumps(data))
    return to


@pytest.fixture(scope="module")
def cross_cpu(tmp_path_factory: pytest.TempPathFactory) -> tuple[Matrix, Path]:
    out = tmp_path_factory.mktemp("matrix")
    assert main(["merge", str(VNNI_RUN), str(AVX2_RUN), "--out", str(out)]) == 0
    return _matrix(out), out


def test_two_cpus_make_two_named_platform_groups(cross_cpu: tuple[Matrix, Path]) -> None:
    matrix, _ = cross_cpu
    keys = [p.key for p in matrix.platforms]
    assert keys == ["AMD EPYC · AVX-512 VNNI · 2 cores, 2 threads · no GPU",
                    "AMD EPYC · no VNNI · 2 cores, 2 threads · no GPU"]
    # the AVX2 run is schema 1.0: its INT8 dot product comes from its ISA flags
    assert [p.int8_dot_product for p in matrix.platforms] == ["avx512_vnni", "vpmaddubsw"]
    assert any("schema 1.0" in w for w in matrix.warnings)
    assert len(matrix.rows) == 7
    assert all(set(r.cells) == set(keys) for r in matrix.rows)


def test_ort_int8_accuracy_differs_between_the_cpus(cross_cpu: tuple[Matrix, Path]) -> None:
    matrix, _ = cross_cpu
    by_name = {c.variant: c for c in matrix.cross_platform}
    ort = by_name["onnxruntime:int8"].comparison
    assert ort is not None and ort.significant and ort.images == 800
    assert ort.delta_pp == pytest.approx(-5.50, abs=0.01)
    assert ort.ci95_pp[1] < 0 and ort.mcnemar_p < 1e-4
    fp32 = by_name["onnxruntime:fp32"].comparison
    assert fp32 is not None and not fp32.significant and fp32.delta_pp == 0.0
    significant = {c.variant for c in matrix.significant_differences()}
    assert "onnxruntime:int8" in significant and "openvino:fp32" not in significant


def test_best_variant_and_leaders_per_platform(cross_cpu: tuple[Matrix, Path]) -> None:
    matrix, _ = cross_cpu
    vnni, avx2 = (p.key for p in matrix.platforms)
    # within 1 pp: on VNNI OpenVINO INT8 is the fastest; on AVX2 every INT8 variant but
    # OpenVINO's loses more, and OpenVINO INT8 is slower there than its FP32
    assert matrix.best == {vnni: "openvino:int8", avx2: "openvino:fp32"}
    fastest = next(x for x in matrix.leaders if x.criterion == "fastest")
    assert fastest.changes and fastest.by_platform[avx2] == ["onnxruntime:int8"]
    accurate = next(x for x in matrix.leaders if x.criterion == "most accurate")
    assert not accurate.changes and "pytorch:fp32" in accurate.by_platform[avx2]
    ranked = {r.variant for r in matrix.rows if r.rank_changes}
    assert ranked == {"onnxruntime:int8", "openvino:fp32", "openvino:int8"}


def test_reports_name_the_best_and_the_significant_difference(
    cross_cpu: tuple[Matrix, Path],
) -> None:
    _, out = cross_cpu
    md = (out / "matrix.md").read_text()
    assert "- P1: `openvino:int8` (p50 0.87 ms" in md
    assert "- P2: `openvino:fp32` (p50 8.07 ms" in md
    assert "**`onnxruntime:int8` top-1 differs between P1 and P2: -5.50 pp" in md
    assert "| `onnxruntime:int8` ⇅ | ±0.00 [-1.2, +1.1] n.s. | 1.23 (#2) |" in md
    html = (out / "matrix.html").read_text()
    assert "<th class=group colspan=5" in html and "class=sig" in html
    assert "<script" not in html and "http" not in html  # self-contained
    assert "P1: <code>openvino:int8</code> (p50 0.87 ms" in html and "`" not in html


def test_the_budget_decides_the_best_variant(tmp_path: Path) -> None:
    matrix = merge_runs([VNNI_RUN, AVX2_RUN], tmp_path, max_drop_pp=10.0)
    assert list(matrix.best.values()) == ["openvino:int8", "onnxruntime:int8"]
    strict = merge_runs([VNNI_RUN, AVX2_RUN], tmp_path, max_drop_pp=0.0)
    assert list(strict.best.values()) == ["openvino:int8", "openvino:fp32"]


def test_the_same_run_twice_shows_no_platform_effect(tmp_path: Path) -> None:
    copy = _copy(VNNI_RUN, tmp_path / "again")
    matrix = merge_runs([VNNI_RUN, copy], tmp_path / "out")
    assert [p.key.rsplit(" ", 1)[1] for p in matrix.platforms] == [
        "[mobilenet_v2-avx512-vnni-run]", "[again]"]
    assert not matrix.significant_differences()
    assert not any(x.changes for x in matrix.leaders)
    assert not any(r.rank_changes for r in matrix.rows)
    assert all(c.agreement_top1 == 1.0 for c in matrix.cross_platform)


@pytest.mark.parametrize(
    ("change", "named"),
    [({"model__weights": "none"}, "weights differs (IMAGENET1K_V1 vs none)"),
     ({"model__name": "resnet50"}, "model differs (mobilenet_v2 vs resnet50)"),
     ({"dataset__eval_list_sha256": "0" * 64}, "evaluation list (SHA-256) differs")],
)
def test_incomparable_runs_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], named: str
) -> None:
    other = _copy(VNNI_RUN, tmp_path / "other", **change)
    assert main(["merge", str(AVX2_RUN), str(other), "--out", str(tmp_path / "out")]) == 6
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot merge") and named in err
    assert not (tmp_path / "out").exists()


def test_missing_predictions_are_said_not_compared(tmp_path: Path) -> None:
    copy = _copy(AVX2_RUN, tmp_path / "avx2")
    (copy / "variants" / "onnxruntime_int8" / "predictions.npz").unlink()
    matrix = merge_runs([VNNI_RUN, copy], tmp_path / "out")
    ort = next(c for c in matrix.cross_platform if c.variant == "onnxruntime:int8")
    assert ort.comparison is None and ort.reason is not None and "missing" in ort.reason


@pytest.mark.parametrize("args", [["--max-drop", "-1"], ["--max-drop", "nan"]])
def test_bad_budget_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(["merge", str(VNNI_RUN), "--out", str(tmp_path), *args]) == 2
    assert "--max-drop" in capsys.readouterr().err


def test_a_missing_run_is_a_results_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["merge", str(VNNI_RUN), str(tmp_path / "nope"), "--out", str(tmp_path)]) == 6
    assert "no results found" in capsys.readouterr().err
