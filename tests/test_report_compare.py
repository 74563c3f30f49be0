"""compare: two runs side by side with warnings where setups differ; two variants image by image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantarena.cli import main
from quantarena.errors import ResultsError
from quantarena.measure.accuracy import Predictions
from quantarena.report.compare import compare_runs, compare_variants, environment_differences
from quantarena.results.environment import Gpu, Load
from quantarena.results.io import save_results
from test_report_html import make_report_results


def _run_pair(tmp_path: Path) -> tuple[Path, Path]:
    a, b = make_report_results(), make_report_results()
    b.environment.threads = 4
    b.environment.cpu.model = "Other CPU"
    b.environment.cpu.isa["amx_int8"] = True
    b.environment.cpu.isa["avx512_vnni"] = False
    b.environment.packages["onnxruntime"] = "0.0.1"
    b.environment.gpu = [Gpu(name="Some GPU", driver="1.0", memory="8 GiB")]
    b.environment.load_before = Load(
        cpu_percent=60.0, loadavg_1m=2.0, warning="the machine was busy"
    )
    b.dataset.eval_list_sha256 = "f" * 64
    b.model.weights = "other"
    v = b.variant("onnxruntime:int8")
    assert v is not None and v.latency_ms is not None
    v.latency_ms.p50 = 3.0
    dirs = tmp_path / "a", tmp_path / "b"
    for d, r in zip(dirs, (a, b), strict=True):
        d.mkdir()
        save_results(r, d)
    return dirs


def test_runs_side_by_side_with_warnings(tmp_path: Path) -> None:
    run_a, run_b = _run_pair(tmp_path)
    text = compare_runs(run_a, run_b)
    assert "| onnxruntime:int8 | 79.50% | 79.50% | 6.00 | 3.00 | 0.50× |" in text
    assert "| onnxruntime:int8-dynamic | failed | failed |" in text
    for needle in (
        "CPU model differs: A `Test CPU @ 2.0GHz`, B `Other CPU`",
        "threads differs: A `2`, B `4`",
        "ISA flags differ: only A has avx512_vnni; only B has amx_int8",
        "package `onnxruntime` differs: A 1.20.0, B 0.0.1",
        "GPU differs: A `none`, B `Some GPU (driver 1.0)`",
        "evaluation list (SHA-256) differs",
        "weights differs",
        "Warning: run B: the machine was busy",
    ):
        assert needle in text, needle
    assert "logical cores differs" not in text and "Python differs" not in text
    assert "Warning: run A" not in text
    assert "compare directly" not in text  # different evaluation images


def test_identical_setups_have_no_warnings(tmp_path: Path) -> None:
    results = make_report_results()
    assert environment_differences(results, results) == []
    save_results(results, tmp_path)
    text = compare_runs(tmp_path, tmp_path)
    assert "Warning" not in text and "1.00×" in text and "compare directly" in text


def _with_predictions(tmp_path: Path) -> Path:
    results = make_report_results()
    labels = np.arange(100) % 10
    top5 = np.stack([(labels + k) % 10 for k in range(5)], axis=1)
    files = [f"img{i}.jpg" for i in range(100)]
    wrong_b = top5.copy()
    wrong_b[:8, 0] = (labels[:8] + 1) % 10  # A gets every image right; B misses the first 8
    for name, preds in (("pytorch:fp32", top5), ("pytorch:int8", wrong_b)):
        v = results.variant(name)
        assert v is not None
        rel = f"variants/{name.replace(':', '_')}/predictions.npz"
        (tmp_path / rel).parent.mkdir(parents=True)
        Predictions(files=files, labels=labels, top5=preds).save(tmp_path / rel)
        v.predictions_file = rel
    save_results(results, tmp_path)
    return tmp_path


def test_variants_of_one_run_paired(tmp_path: Path) -> None:
    run = _with_predictions(tmp_path)
    result = compare_variants(run, "pytorch:fp32", "pytorch:int8")
    assert result.top1_a == 1.0 and result.top1_b == pytest.approx(0.92)
    assert result.paired.lost == 8 and result.paired.gained == 0
    assert result.paired.delta_pp == pytest.approx(-8.0)
    assert result.paired.significant
    assert result.agreement_top1 == pytest.approx(0.92)
    assert "-8.00 pp" in result.to_markdown()
    with pytest.raises(ResultsError, match="no per-image predictions"):
        compare_variants(run, "pytorch:fp32", "onnxruntime:int8-dynamic")
    with pytest.raises(ResultsError, match="no variant"):
        compare_variants(run, "pytorch:fp32", "nope:int8")


def test_cli_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    run = _with_predictions(tmp_path / "run")
    assert main(["compare", str(run), "--variants", "pytorch:fp32,pytorch:int8"]) == 0
    assert "Exact McNemar p" in capsys.readouterr().out
    out = tmp_path / "cmp.md"
    assert main(["compare", str(run), str(run), "--out", str(out)]) == 0
    assert "p50 B/A" in out.read_text()
    assert main(["compare", str(run)]) == 2
    assert main(["compare", str(run), "--variants", "pytorch:fp32"]) == 2
    assert "--variants A,B" in capsys.readouterr().err
