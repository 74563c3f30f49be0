"""The run folder's modes and the resume checks, on results built here (no workers): which folder
is refused, emptied or resumed, and which difference refuses a resume, named in one line.
The same behaviours on real runs, signals included, are in ``test_faults``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantarena.config import RunConfig
from quantarena.errors import ConfigError, OutputError
from quantarena.hardware import Int8Arithmetic
from quantarena.measure.accuracy import Predictions
from quantarena.models.spec import ModelBundle, PreprocessSpec
from quantarena.results.environment import Cpu, Environment
from quantarena.results.io import save_results
from quantarena.results.schema import (
    DatasetInfo,
    ModelInfo,
    Results,
    Status,
    Tool,
    VariantResult,
)
from quantarena.runner.folder import MARKER, OutMode, in_use, open_out
from quantarena.runner.interrupt import resume_command
from quantarena.runner.launcher import Launcher
from quantarena.runner.pipeline import run_benchmark
from quantarena.runner.plan import choose_reference, plan_variants
from quantarena.runner.resume import check_config, check_setup, kept_rows, merged
from quantarena.runner.variant import SplitFiles, VariantRunner

VARIANTS = ["onnxruntime:fp32", "onnxruntime:int8"]


def _config(**extra: object) -> RunConfig:
    settings: dict[str, object] = {"variants": VARIANTS, "threads": 2, "out": Path("runs/x")}
    settings.update(extra)
    return RunConfig.model_validate(settings).resolved()


def _environment(**extra: object) -> Environment:
    cpu = Cpu(model="Some CPU", int8=Int8Arithmetic(dot_product="avx512_vnni", saturates=False))
    settings: dict[str, object] = {
        "cpu": cpu,
        "threads": 2,
        "python": "3.11.7",
        "quantarena": "0.1.0",
        "packages": {"numpy": "2.0", "onnxruntime": "1.20"},
    }
    settings.update(extra)
    return Environment.model_validate(settings)


def _results(config: RunConfig, statuses: dict[str, Status] | None = None) -> Results:
    statuses = statuses or {}
    rows = [
        VariantResult(
            name=name,
            toolchain=name.split(":")[0],
            precision="fp32",
            status=statuses.get(name, "ok"),
            predictions_file=f"variants/{name.replace(':', '_')}/predictions.npz",
        )
        for name in config.variants
    ]
    return Results(
        tool=Tool(version="0.1.0"),
        started_at="2025-01-01T00:00:00+00:00",
        config=config.model_dump(mode="json"),
        environment=_environment(),
        model=ModelInfo(
            name="mobilenet_v2",
            source="torchvision",
            weights="IMAGENET1K_V1",
            pretrained=True,
            input_shape=[3, 224, 224],
            preprocessing={"resize": 256, "crop": 224},
        ),
        dataset=DatasetInfo(
            name="sample",
            root="/data/sample",
            layout="labels.csv",
            eval_images=16,
            calibration_images=8,
            eval_list_sha256="e" * 64,
            calibration_list_sha256="c" * 64,
            seed=0,
        ),
        reference=choose_reference(plan_variants(config)),
        variants=rows,
    )


def _refused(call: object, *named: str) -> str:
    assert callable(call)
    with pytest.raises(ConfigError) as caught:
        call()
    text = str(caught.value)
    assert len(text.splitlines()) == 1
    for part in named:
        assert part in text, text
    return text


# -- the output folder ---------------------------------------------------------------------------


def test_a_new_run_takes_an_empty_or_missing_folder_and_marks_it(tmp_path: Path) -> None:
    out = tmp_path / "new"
    assert open_out(out, "new", print) is None
    assert (out / MARKER).exists()


def test_a_used_folder_is_refused_naming_both_ways_out(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{}")
    _refused(lambda: open_out(tmp_path, "new", print), "--resume", "--overwrite", "not empty")
    assert (tmp_path / "results.json").read_text() == "{}"


def test_overwrite_empties_a_run_folder_and_only_a_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    (run / MARKER).write_text("")
    (run / "logs" / "old.log").write_text("old")
    (run / "results.json").write_text("{}")
    assert open_out(run, "overwrite", print) is None
    assert [p.name for p in run.iterdir()] == [MARKER]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    _refused(lambda: open_out(other, "overwrite", print), "no quantarena run")
    assert (other / "notes.txt").read_text() == "mine"


def test_a_file_is_no_output_folder(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        open_out(path, "new", print)


def test_resume_loads_the_earlier_results_or_starts_again(tmp_path: Path) -> None:
    config = _config()
    run = tmp_path / "run"
    run.mkdir()
    save_results(_results(config), run)
    earlier = open_out(run, "resume", print)
    assert earlier is not None and [v.name for v in earlier.variants] == VARIANTS
    # Stopped before results.json existed: nothing to keep, so it starts again in the folder.
    started = tmp_path / "started"
    (started / "fp32").mkdir(parents=True)
    (started / MARKER).write_text("")
    assert open_out(started, "resume", print) is None
    assert [p.name for p in started.iterdir()] == [MARKER]
    assert open_out(tmp_path / "never", "resume", print) is None
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "data.csv").write_text("1,2")
    _refused(lambda: open_out(stranger, "resume", print), "no quantarena run")


@pytest.mark.parametrize("mode", ["resume", "overwrite"])
def test_a_folder_a_live_run_holds_is_neither_resumed_nor_emptied(
    mode: OutMode, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    assert open_out(run, "new", print) is None
    (run / "logs").mkdir()
    with in_use(run):  # the live run
        _refused(lambda: open_out(run, mode, print), "in use by another quantarena run")
        assert (run / "logs").exists()
    open_out(run, "overwrite", print)  # once it has ended
    assert not (run / "logs").exists()


def test_resume_needs_the_folder_named(tmp_path: Path) -> None:
    config = RunConfig(variants=VARIANTS, data=tmp_path)
    _refused(lambda: run_benchmark(config, mode="resume"), "--resume needs --out")


# -- what must match -----------------------------------------------------------------------------


def _check(earlier: Results, config: RunConfig) -> None:
    check_config(earlier, config, choose_reference(plan_variants(config)), Path("runs/x"))


def test_the_same_config_resumes_and_the_list_may_grow() -> None:
    earlier = _results(_config())
    _check(earlier, _config())
    _check(earlier, _config(variants=[*VARIANTS, "onnxruntime:int8-dynamic"]))
    # where things go and how long a worker may take decide no number
    _check(earlier, _config(out=Path("elsewhere"), cache_dir=Path("/tmp/c"), measure_timeout=5))
    grown = _config(
        variants=[*VARIANTS, "onnxruntime:int8-dynamic"],
        recipes={"onnxruntime:int8-dynamic": {"per_channel": False}},
    )
    _check(earlier, grown)  # knobs of a variant new to the run
    # the interleaved rounds are timed again in full on resume: their knobs decide no kept row
    rounds = RunConfig().measure.model_copy(update={"interleave": False, "rounds_max": 9})
    _check(earlier, _config(measure=rounds))
    older = earlier.model_copy(deep=True)  # written before the rounds' knobs existed
    for key in ("interleave", "rounds_target_ci", "rounds_max_seconds", "rounds_max"):
        del older.config["measure"][key]
    _check(older, _config())


def test_a_setting_added_since_counts_as_its_default_in_an_older_run() -> None:
    older = _results(_config()).model_copy(deep=True)  # written before LoadGen scenarios existed
    del older.config["scenarios"]
    _check(older, _config())
    # asking for what the older run did not do is still a difference, named as such
    serving = RunConfig().scenarios.model_copy(update={"scenarios": ["server"]})
    _refused(lambda: _check(older, _config(scenarios=serving)),
             "scenarios.scenarios differs (earlier run: []; now: ['server'])")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"calibration_images": 100}, "calibration_images differs (earlier run: 200; now: 100)"),
        ({"threads": 1}, "threads differs"),
        ({"malloc": "system"}, "malloc differs"),
        ({"weights": "none"}, "weights differs"),
        ({"variants": VARIANTS[:1]}, "onnxruntime:int8 is not in --variants"),
        (
            {"recipes": {"onnxruntime:int8": {"calibration_method": "entropy"}}},
            "recipe of onnxruntime:int8 differs",
        ),
        ({"variants": ["pytorch:fp32", *VARIANTS]}, "the FP32 reference"),
    ],
)
def test_a_config_difference_refuses_the_resume_naming_it(
    change: dict[str, object], named: str
) -> None:
    earlier = _results(_config())
    text = _refused(lambda: _check(earlier, _config(**change)), named, "--overwrite")
    assert text.startswith("cannot resume runs/x: ")


def test_a_measurement_setting_is_named_with_its_section() -> None:
    earlier = _results(_config())
    measure = RunConfig().measure.model_copy(update={"latency_min_iterations": 99})
    _refused(lambda: _check(earlier, _config(measure=measure)), "measure.latency_min_iterations")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("cpu", Cpu(model="Another CPU"), "CPU model differs"),
        (
            "cpu",
            Cpu(model="Some CPU", int8=Int8Arithmetic(dot_product="vpmaddubsw", saturates=True)),
            "INT8 dot product differs",
        ),
        ("threads", 4, "threads differs"),
        ("pin_cpus", [0], "CPU pinning differs"),
        ("packages", {"numpy": "2.0", "onnxruntime": "1.21"}, "onnxruntime version differs"),
        ("quantarena", "0.2.0", "quantarena version differs"),
    ],
)
def test_a_different_machine_or_package_refuses_the_resume(
    field: str, value: object, named: str
) -> None:
    config = _config()
    earlier = _results(config)
    fresh = earlier.model_copy(update={"environment": _environment(**{field: value})})
    _refused(lambda: check_setup(earlier, fresh, Path("runs/x")), named)


def test_different_images_or_weights_refuse_the_resume() -> None:
    earlier = _results(_config())
    images = earlier.model_copy(
        update={"dataset": earlier.dataset.model_copy(update={"eval_list_sha256": "f" * 64})}
    )
    _refused(lambda: check_setup(earlier, images, Path("r")), "evaluation image list (SHA-256)")
    weights = earlier.model_copy(
        update={"model": earlier.model.model_copy(update={"weights": "/tmp/other.pth"})}
    )
    _refused(lambda: check_setup(earlier, weights, Path("r")), "model weights differs")


PACKAGES = {"numpy": "2.0", "onnxruntime": "1.20", "openvino": "2025.1"}


def test_packages_of_new_toolchains_are_recorded_not_compared() -> None:
    earlier = _results(_config())
    fresh = earlier.model_copy(
        update={
            "environment": _environment(packages=PACKAGES),
            "config": _config(variants=[*VARIANTS, "openvino:fp32"]).model_dump(mode="json"),
            "started_at": "2026-01-01T00:00:00+00:00",
        }
    )
    check_setup(earlier, fresh, Path("r"))
    both = merged(earlier, fresh)
    assert both.environment.packages == PACKAGES
    assert both.started_at == earlier.started_at and both.finished_at is None
    assert both.config["variants"] == [*VARIANTS, "openvino:fp32"]


def test_only_ok_rows_with_their_files_are_kept(tmp_path: Path) -> None:
    config = _config(variants=[*VARIANTS, "onnxruntime:int8-dynamic"])
    earlier = _results(config, {"onnxruntime:int8-dynamic": "not_run"})
    for v in earlier.variants:
        assert v.predictions_file is not None
        (tmp_path / v.predictions_file).parent.mkdir(parents=True)
    (tmp_path / str(earlier.variants[0].predictions_file)).write_bytes(b"")
    (tmp_path / str(earlier.variants[2].predictions_file)).write_bytes(b"")
    # int8: ok but its predictions are gone, so it is measured again; int8-dynamic: not_run
    assert list(kept_rows(earlier, tmp_path)) == ["onnxruntime:fp32"]


def test_the_resume_command_is_the_users_own_with_resume() -> None:
    out = Path("/runs/a b")
    assert resume_command(["run", "--config", "c.yaml", "--overwrite"], out) == (
        "quantarena run --resume --out '/runs/a b' --config c.yaml"
    )
    assert resume_command(["run", "--out", "x", "--threads", "2"], Path("/abs/x")) == (
        "quantarena run --resume --out x --threads 2"
    )
    assert resume_command(None, out) == "quantarena run --resume --out '/runs/a b' ..."


def test_rows_kept_before_the_reference_get_their_comparison_once_it_is_measured(
    tmp_path: Path,
) -> None:
    """An earlier run whose reference failed: its other rows have no paired comparison; when the
    resume measures the reference, they get it from their saved predictions, as in one run."""
    files, labels = [f"{i}.JPEG" for i in range(6)], np.arange(6)
    top5 = np.tile(np.arange(5), (6, 1)) + 1
    variant = Predictions(files, labels, np.where(labels[:, None] == 2, 2, top5))
    odd = labels[:, None] % 2 == 1
    reference = Predictions(files, labels, np.where(odd, labels[:, None], top5))
    path = tmp_path / "variants" / "v" / "predictions.npz"
    path.parent.mkdir(parents=True)
    variant.save(path)
    row = VariantResult(
        name="onnxruntime:int8", toolchain="onnxruntime", precision="int8", status="ok",
        accuracy=variant.accuracy(None), predictions_file="variants/v/predictions.npz",
        notes=["a note from the build"],
    )
    assert row.accuracy is not None and row.accuracy.top1_delta_pp is None
    bundle = ModelBundle(
        name="m", source="onnx", weights="none", pretrained=True, input_shape=(3, 8, 8),
        preprocessing=PreprocessSpec(), onnx_path=tmp_path / "m.onnx",
    )
    runner = VariantRunner(
        config=_config(), launcher=Launcher(1, None, "steady", tmp_path, 1.0, 1.0),
        bundle=bundle, out=tmp_path, files=SplitFiles(path, path, path), log=print,
    )
    assert runner.recompare(row) == row  # no reference measured yet: nothing to compare with
    runner.reference = reference
    again = runner.recompare(row)
    assert again.accuracy == variant.accuracy(reference)
    # variant right on images 1 and 2, reference on 1, 3 and 5
    assert again.accuracy is not None and again.accuracy.top1_delta_pp == pytest.approx(-100 / 6)
    assert again.notes[0] == "a note from the build"
