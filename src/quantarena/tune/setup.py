"""What a tune run settles before its first trial: its settings, its folder (new, or an earlier
tune run to continue), the FP32 bundle, the three splits, and the proof that a continued run
reads the same model and images as the trials it reuses."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quantarena import __version__
from quantarena.config import RunConfig
from quantarena.errors import ConfigError, ModelError, OutputError
from quantarena.models.spec import ModelBundle
from quantarena.outdir import ensure_output_dir
from quantarena.runner.folder import MARKER
from quantarena.runner.jobs import PrepareJob
from quantarena.runner.launcher import Launcher
from quantarena.runner.resume import reusable_bundle
from quantarena.toolchains import parse_variant
from quantarena.tune.splits import SplitRecord
from quantarena.tune.study_plan import StudySettings
from quantarena.tune.trials import TUNE_FILE, TuneRecord, load_record

Log = Callable[[str], None]

#: settings a continued search must share with the trials it reuses
SAME_SETUP = ("model", "weights", "input_size", "resize", "mean", "std", "seed", "threads",
              "pin_cpus", "malloc")


@dataclass(frozen=True)
class TuneSettings:
    """What ``tune`` adds to ``run``'s model, data and platform settings."""

    max_drop_pp: float
    variants: list[str]
    max_trials: int
    time_budget_s: float
    validation_images: int
    #: ``--study``: measured instead of the search (``tune/study.py``)
    study: StudySettings | None = None

    def check(self) -> None:
        """Every setting valid and every variant tunable, before anything runs."""
        if self.max_drop_pp < 0:
            raise ConfigError("--max-drop must be >= 0 (percentage points of top-1)")
        if self.max_trials < 1:
            raise ConfigError("--max-trials must be >= 1")
        if self.time_budget_s <= 0:
            raise ConfigError("--time-budget must be > 0 seconds")
        if self.validation_images < 1:
            raise ConfigError("--validation-images must be >= 1")
        if not self.variants or len(set(self.variants)) != len(self.variants):
            raise ConfigError("--variants must list each variant once")
        for variant in self.variants:
            toolchain, name = parse_variant(variant)
            if not toolchain.recipes[name].search_space:
                raise ConfigError(f"{variant} declares no search space: {tunable_hint()}")


def tunable_hint() -> str:
    from quantarena.toolchains.registry import registered_toolchains

    names = [f"{t.name}:{n}" for t in registered_toolchains() for n, c in t.recipes.items()
             if c.search_space]
    return "tunable variants are " + ", ".join(names)


def open_tune_out(out: Path, log: Log) -> TuneRecord | None:
    """``out`` ready for a tune run; the earlier record to continue, if it holds one. A folder
    that is not a quantarena run is never touched; one stopped before its first record is
    started again."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output folder {out} is an existing file, not a folder: pass another "
                          "--out")
    earlier = load_record(out)
    if earlier is not None:
        if earlier.study is None:
            log(f"continuing the search in {out} ({len(earlier.trials)} trial(s) kept)")
        else:
            log(f"continuing in {out} ({len(earlier.trials)} trial(s) and "
                f"{len(earlier.study.points)} study point(s) kept)")
    elif out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists() or (out / "results.json").exists():
            raise ConfigError(f"--out {out} is not empty and holds no {TUNE_FILE}: pass a new "
                              "folder, or the folder of the tune run to continue")
        log(f"nothing was recorded in {out} yet: starting the search again")
        for entry in out.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.name != MARKER:
                entry.unlink()
    ensure_output_dir(out)
    if not (out / MARKER).exists():
        (out / MARKER).write_text(f"quantarena {__version__} tune folder\n")
    return earlier


def check_same_setup(earlier: TuneRecord, config: RunConfig, splits: SplitRecord,
                     out: Path) -> None:
    """A continued search reuses trials only when they were measured on the same model, images
    and platform settings; anything else is refused in one line."""
    now = config.model_dump(mode="json")
    changed = [k for k in SAME_SETUP if earlier.config.get(k) != now.get(k)]
    if earlier.splits != splits:
        changed.append("the calibration/validation/evaluation images")
    if changed:
        raise ConfigError(
            f"--out {out} holds a search with other settings ({', '.join(changed)}): its trials "
            "cannot be reused; pass a new --out"
        )


def prepare_bundle(config: RunConfig, out: Path, launcher: Launcher, log: Log) -> ModelBundle:
    """The FP32 bundle of an earlier attempt in this folder, else a fresh one (in a worker)."""
    bundle = reusable_bundle(out) or _fresh_bundle(config, out, launcher, log)
    if not bundle.pretrained:
        raise ConfigError("tune needs pretrained weights: with --weights none every top-1 drop "
                          "is noise")
    return bundle


def _fresh_bundle(config: RunConfig, out: Path, launcher: Launcher, log: Log) -> ModelBundle:
    log(f"preparing {config.model} (weights: {config.weights}) and its ONNX export ...")
    job = PrepareJob(
        model=config.model, weights=config.weights, workdir=out / "fp32", seed=config.seed,
        input_size=config.input_size, resize=config.resize, mean=config.mean, std=config.std,
    )
    outcome = launcher.run(job, "prepare")
    if outcome.status != "ok" or outcome.result is None:
        raise ModelError(outcome.reason or "model preparation failed")
    return ModelBundle.load(outcome.result.bundle)


def reference_variant(bundle: ModelBundle) -> str:
    """The FP32 reference, chosen as ``run`` chooses it: the recipe with the lowest declared
    ``reference_rank`` (eager PyTorch first; ONNX Runtime for an ONNX file) that can run here."""
    from quantarena.toolchains.registry import registered_toolchains

    ranked = sorted(
        (cls.reference_rank, f"{t.name}:{name}")
        for t in registered_toolchains()
        for name, cls in t.recipes.items()
        if cls.reference_rank is not None and t.unavailable(name, bundle) is None
    )
    if not ranked:
        raise ConfigError("no FP32 reference can run here")
    return ranked[0][1]
