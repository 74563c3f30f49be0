"""Faults on real workers and real images: a killed worker, a timeout, Ctrl-C and SIGTERM of a
real ``quantarena run`` and its ``--resume``, SIGKILL of the run, a full disk, refused folders.

The runs are small (8 calibration + 16 evaluation images, the ONNX Runtime variants of the
MobileNetV2 export, ``test_pipeline``'s fast measurement settings) so the file stays within a few
minutes on two cores; one uninterrupted run is the yardstick every resumed run is compared with.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from quantarena import cli, cli_run
from quantarena.config import RunConfig
from quantarena.measure.accuracy import Predictions
from quantarena.models.spec import ModelBundle
from quantarena.results.io import load_results
from quantarena.results.schema import Results
from quantarena.runner import pipeline
from quantarena.runner.interrupt import RunInterrupted, stop_signals
from quantarena.toolchains import get_toolchain
from test_pipeline import FAST

pytestmark = pytest.mark.slow

VARIANTS = ["onnxruntime:fp32", "onnxruntime:int8", "onnxruntime:int8-dynamic"]
WORKER = "quantarena.runner.worker"
SETTINGS: dict[str, object] = {"calibration_images": 8, "eval_images": 16, "threads": 2}


def _flag_value(value: object) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


@pytest.fixture(scope="module")
def flags(sample_dir: Path, cache_dir: Path, mv2_bundle: ModelBundle) -> list[str]:
    """The command line of every run here (without --out): a user's ONNX file, so preparing the
    model imports no torch."""
    settings = {
        "model": mv2_bundle.onnx_path,
        "data": sample_dir,
        "cache_dir": cache_dir,
        "variants": VARIANTS,
        **SETTINGS,
        **FAST.model_dump(),
    }
    return [
        part
        for key, value in settings.items()
        for part in (f"--{key.replace('_', '-')}", _flag_value(value))
    ]


def _config(flags: list[str], out: Path, **extra: object) -> RunConfig:
    """The same run as ``flags``, as a config for ``run_benchmark`` in this process."""
    args = cli.build_parser().parse_args(["run", *flags, "--out", str(out)])
    overrides = cli_run._overrides(args)
    overrides.update(extra)
    return RunConfig(**overrides)


@pytest.fixture(scope="module")
def uninterrupted(flags: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    assert cli.main(["run", *flags, "--out", str(out)]) == 0
    return out


def _workers(out: Path, job: str = "") -> list[psutil.Process]:
    """Live (not zombie) quantarena workers of the run in ``out`` (and of ``job``, if given)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        command = " ".join(proc.info["cmdline"] or [])
        if (
            WORKER in command
            and str(out.resolve()) in command
            and job in command
            and proc.info["status"] != psutil.STATUS_ZOMBIE
        ):
            found.append(proc)
    return found


def _start(args: list[str], logs: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """A real ``quantarena run`` in its own process; stdout and stderr go to files."""
    stdout, stderr = logs / "stdout.txt", logs / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "quantarena.cli", "run", *args], stdout=out, stderr=err
        )
    return proc, stdout, stderr


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], limit: float = 180) -> None:
    deadline = time.monotonic() + limit
    while text not in path.read_text(errors="replace"):
        assert proc.poll() is None, f"the run ended before {text!r}:\n{path.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} after {limit} s"
        time.sleep(0.05)


def _mtimes(out: Path, names: list[str]) -> dict[str, int]:
    return {name: (out / name).stat().st_mtime_ns for name in names}


def _slug(variant: str) -> str:
    return variant.replace(":", "_")


def _same_as_uninterrupted(results: Results, run: Path, reference: Path) -> None:
    """Same rows (status, accuracy and its paired comparison), same predictions image by image."""
    expected = load_results(reference)
    assert [v.name for v in results.variants] == [v.name for v in expected.variants]
    for got, want in zip(results.variants, expected.variants, strict=True):
        assert got.status == want.status == "ok", (got.name, got.reason)
        assert got.accuracy == want.accuracy, got.name
        assert got.accuracy is not None and got.accuracy.images == SETTINGS["eval_images"]
        assert got.baseline == want.baseline
        mine = Predictions.load(run / str(got.predictions_file))
        theirs = Predictions.load(reference / str(want.predictions_file))
        assert mine.files == theirs.files
        np.testing.assert_array_equal(mine.correct_top1, theirs.correct_top1)
    assert results.reference == expected.reference
    # the paired comparison of a row measured after the resume needs the reloaded reference
    assert all(v.accuracy and v.accuracy.top1_delta_pp is not None for v in results.variants)


@pytest.mark.parametrize(
    ("signum", "when", "kept"),
    [
        (signal.SIGINT, "  onnxruntime:int8: built in", ["onnxruntime:fp32"]),
        (
            signal.SIGTERM,
            "  onnxruntime:int8-dynamic: building",
            ["onnxruntime:fp32", "onnxruntime:int8"],
        ),
    ],
    ids=["sigint-while-measuring-the-second", "sigterm-while-building-the-third"],
)
def test_a_stopped_run_keeps_what_it_measured_and_resume_finishes_it(
    signum: int,
    when: str,
    kept: list[str],
    flags: list[str],
    uninterrupted: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    proc, stdout, stderr = _start([*flags, "--out", str(out)], tmp_path)
    _wait_for(stdout, when, proc)
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == 128 + signum
    stopped_at = time.time_ns()
    assert not _workers(out)  # the worker of the interrupted variant went with it

    err = [line for line in stderr.read_text().splitlines() if line.strip()]
    name = signal.Signals(signum).name
    assert "Traceback" not in stderr.read_text()
    assert err[-1].startswith(f"interrupted by {name} after {len(kept)} of 3 variants")
    assert sum("interrupted" in line for line in err) == 1
    command = err[-1].split("to finish: ", 1)[1]
    assert command.startswith("quantarena run --resume ") and f"--out {out}" in command

    results = load_results(out)
    assert results.finished_at is None
    for v in results.variants:
        if v.name in kept:
            assert v.status == "ok"
        else:
            assert v.status == "not_run"
            assert v.reason == f"interrupted by {name} before it was measured"
    report = (out / "report.md").read_text()
    assert "not_run: interrupted by" in report and "Incomplete run" in report
    assert "not_run" in (out / "report.html").read_text()

    kept_files = [f"logs/{_slug(v)}.build.log" for v in kept] + [
        f"variants/{_slug(v)}/predictions.npz" for v in kept
    ]
    before = _mtimes(out, kept_files)
    kept_rows = {name: results.variant(name) for name in kept}
    # The command the message gave, run as it is.
    assert cli.main(shlex.split(command)[1:]) == 0
    finished = load_results(out)
    _same_as_uninterrupted(finished, out, uninterrupted)
    assert finished.finished_at is not None
    assert _mtimes(out, kept_files) == before  # kept variants: not rebuilt, not re-measured
    for name in kept:
        assert finished.variant(name) == kept_rows[name]
    for name in set(VARIANTS) - set(kept):
        assert (out / "logs" / f"{_slug(name)}.build.log").stat().st_mtime_ns > stopped_at
    assert "not_run" not in (out / "report.md").read_text()


def _timing_workers(out: Path) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline", "status"])
            if "quantarena.runner.timing_worker" in " ".join(p.info["cmdline"] or [])
            and str(out.resolve()) in " ".join(p.info["cmdline"] or [])
            and p.info["status"] != psutil.STATUS_ZOMBIE]


def test_a_stop_during_the_interleaved_rounds_keeps_them_and_leaves_no_worker(
    flags: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    endless = ["--variants", ",".join(VARIANTS[:2]), "--rounds-max-seconds", "120",
               "--rounds-target-ci", "0.0001", "--rounds-max", "1000"]
    proc, stdout, stderr = _start([*flags, *endless, "--out", str(out)], tmp_path)
    _wait_for(stdout, "  round 2:", proc)
    assert len(_timing_workers(out)) == 4  # two per variant, loaded, kept between rounds
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert not _timing_workers(out)
    err = [line for line in stderr.read_text().splitlines() if line.strip()]
    assert "Traceback" not in stderr.read_text()
    assert err[-1].startswith("interrupted by SIGINT during the interleaved rounds")
    results = load_results(out)
    assert all(v.status == "ok" for v in results.variants)
    rounds = results.interleaved
    assert rounds is not None and rounds.stop_reason == "interrupted" and rounds.rounds >= 2
    assert "the run was interrupted" in (out / "report.md").read_text()


def test_sigkill_of_the_run_leaves_no_worker_behind(
    flags: list[str], uninterrupted: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    (out / "logs").mkdir(parents=True)
    shutil.copy(uninterrupted / "results.json", out / "results.json")
    (out / "logs" / "stale.log").write_text("from an earlier run")
    proc, _, _ = _start([*flags, "--out", str(out), "--overwrite"], tmp_path)
    deadline = time.monotonic() + 180
    while not (workers := _workers(out, ".measure.job.json")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    assert not (out / "logs" / "stale.log").exists()  # --overwrite emptied the folder first
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while _workers(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _workers(out), [w.pid for w in workers]
    # What the run had written says honestly that nothing was measured.
    results = load_results(out)
    assert results.finished_at is None
    assert {v.status for v in results.variants} == {"not_run"}
    assert all("not measured yet" in (v.reason or "") for v in results.variants)


def test_a_killed_worker_fails_its_variant_and_the_run_goes_on(
    flags: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    config = _config(flags, out, variants=VARIANTS[:2])
    killed: list[int] = []
    done = threading.Event()

    def kill_the_int8_measurement() -> None:
        while not done.is_set():
            for worker in _workers(out, "onnxruntime_int8.measure.job.json"):
                worker.send_signal(signal.SIGKILL)
                killed.append(worker.pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_int8_measurement, daemon=True)
    killer.start()
    try:
        results = pipeline.run_benchmark(config, log=lambda _: None)
    finally:
        done.set()
        killer.join()
    assert killed
    int8 = results.variant("onnxruntime:int8")
    assert int8 is not None and int8.status == "failed"
    assert (int8.reason or "").startswith("measure: worker was killed (SIGKILL")
    assert int8.artifact is not None  # the build it had is kept
    fp32 = results.variant("onnxruntime:fp32")
    assert fp32 is not None and fp32.status == "ok" and fp32.accuracy is not None
    assert load_results(out).finished_at is not None


def test_a_worker_past_its_timeout_is_killed_and_its_variant_fails(
    flags: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    config = _config(flags, out, variants=VARIANTS[:1], measure_timeout=1.0)
    started = time.monotonic()
    results = pipeline.run_benchmark(config, log=lambda _: None)
    row = results.variant("onnxruntime:fp32")
    assert row is not None and row.status == "failed"
    assert (row.reason or "").startswith("measure: timed out after 1 s")
    assert row.build is not None  # the build finished; only the measurement timed out
    assert not _workers(out)
    assert time.monotonic() - started < 120


def test_a_used_folder_is_refused_without_resume_or_overwrite(
    flags: list[str], uninterrupted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (uninterrupted / "results.json").read_bytes()
    assert cli.main(["run", *flags, "--out", str(uninterrupted)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume" in err[0] and "--overwrite" in err[0]
    assert (uninterrupted / "results.json").read_bytes() == before


def test_overwrite_never_empties_a_folder_that_is_not_a_run(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "thesis.tex"
    mine.write_text("years of work")
    assert cli.main(["run", *flags, "--out", str(tmp_path), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no quantarena run" in err[0]
    assert mine.read_text() == "years of work"


def _edit(path: Path, *keys: str | int, value: object) -> None:
    data = json.loads(path.read_text())
    target = data
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--calibration-images", "9"], "calibration_images differs"),
        (["--latency-min-iterations", "11"], "measure.latency_min_iterations differs"),
        (["--variants", "onnxruntime:fp32,onnxruntime:int8"], "onnxruntime:int8-dynamic is not"),
        (["--variants", ",".join(["pytorch:fp32", *VARIANTS])], "FP32 reference"),
        (["environment", "cpu", "model"], "CPU model differs"),
        (["environment", "cpu", "int8", "dot_product"], "INT8 dot product differs"),
        (["environment", "packages", "onnxruntime"], "onnxruntime version differs"),
        (["dataset", "eval_list_sha256"], "evaluation image list (SHA-256) differs"),
        (["model", "weights"], "model weights differs"),
    ],
)
def test_resume_refuses_a_different_setup_in_one_line(
    change: list[str],
    named: str,
    flags: list[str],
    uninterrupted: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    shutil.copytree(uninterrupted, out, ignore=shutil.ignore_patterns("report.*", "charts"))
    args = ["run", *flags, "--out", str(out), "--resume"]
    if change[0].startswith("--"):
        args += change
    else:  # the earlier run was made elsewhere: edit what it recorded
        _edit(out / "results.json", *change, value="none" if "int8" in change else "other")
    before = (out / "results.json").read_bytes()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot resume {out}: ")
    assert named in err[0] and "--overwrite" in err[0]
    assert (out / "results.json").read_bytes() == before


def test_resume_with_a_grown_variant_list_keeps_every_earlier_row(
    flags: list[str], uninterrupted: Path, tmp_path: Path
) -> None:
    extra = "tensorrt:int8"
    if get_toolchain("tensorrt").unavailable("int8") is None:
        pytest.skip("TensorRT is available here: the added variant would be built for minutes")
    out = tmp_path / "run"
    shutil.copytree(uninterrupted, out)
    earlier = load_results(out)
    logs = [f"logs/{_slug(v)}.build.log" for v in VARIANTS]
    before = _mtimes(out, logs)
    grown = [*flags, "--variants", ",".join([*VARIANTS, extra])]
    assert cli.main(["run", *grown, "--out", str(out), "--resume"]) == 0
    results = load_results(out)
    assert [v.name for v in results.variants] == [*VARIANTS, extra]
    assert results.variants[:3] == earlier.variants
    added = results.variant(extra)
    assert added is not None and added.status == "unavailable"
    assert _mtimes(out, logs) == before
    assert results.started_at == earlier.started_at and results.finished_at is not None
    assert set(earlier.environment.packages) < set(results.environment.packages)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(
            "cannot mount a small tmpfs here, so a full disk cannot be simulated: "
            f"{made.stderr.strip() or made.returncode}"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_with_one_line_and_results_json_intact(
    flags: list[str], uninterrupted: Path, small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = small_disk / "run"
    shutil.copytree(uninterrupted, out, ignore=shutil.ignore_patterns("report.*", "charts"))
    # One variant still to measure, then fill the disk.
    _edit(out / "results.json", "variants", 2, "status", value="not_run")
    before = (out / "results.json").read_bytes()
    with (small_disk / "filler").open("wb", buffering=0) as filler:
        with pytest.raises(OSError, match="No space left"):
            while True:
                filler.write(b"\0" * 1_000_000)
    code = cli.main(["run", *flags, "--out", str(out), "--resume"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 7
    assert len(err) == 1 and "No space left on device" in err[0] and str(out) in err[0]
    assert (out / "results.json").read_bytes() == before
    assert not list(out.glob("results.*.tmp"))


def test_a_signal_waits_for_a_safe_point_unless_a_worker_is_awaited() -> None:
    previous = signal.getsignal(signal.SIGINT)
    with stop_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)  # saving a row, say: recorded, not raised
        assert stop.signum == signal.SIGTERM
        os.kill(os.getpid(), signal.SIGINT)  # a second signal changes nothing
        with pytest.raises(RunInterrupted) as caught:
            stop.check()
        assert caught.value.exit_code == 143 and caught.value.name == "SIGTERM"
    with stop_signals() as stop:
        with pytest.raises(RunInterrupted) as caught, stop.interruptible():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # a worker's wait: cut short at once
        assert caught.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is previous


_CHILD = (
    "import os, time\n"
    "from quantarena.runner.lifeline import guard_parent\n"
    "print(guard_parent(os.getppid(), use_prctl={use_prctl}, interval=0.2), flush=True)\n"
    "time.sleep(60)\n"
)
_PARENT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session=True)\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def _gone(proc: psutil.Process, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("use_prctl", [True, False], ids=["prctl", "watchdog"])
def test_a_worker_dies_with_its_parent(use_prctl: bool) -> None:
    child = _CHILD.format(use_prctl=use_prctl)
    with subprocess.Popen(
        [sys.executable, "-c", _PARENT.format(child=child)], stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            orphan = psutil.Process(int(parent.stdout.readline()))
            assert parent.stdout.readline().strip() == ("prctl" if use_prctl else "watchdog")
            parent.kill()
            parent.wait()
            assert _gone(orphan, 5), "the child outlived its parent"
        finally:
            parent.kill()
