"""``run --resume``: finish an earlier run only if the numbers it already holds would still be
comparable with the ones it is about to add.

Rows measured earlier are kept exactly as they are, so everything that decides a number must be
the same now: the config (except where the output goes and the variant list, which may grow), the
model and its weights, the evaluation and calibration image lists, the machine (CPU model, INT8
dot product, threads, pinning) and the package versions. The first difference refuses the resume
with one line naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantarena.config import RunConfig
from quantarena.errors import ConfigError
from quantarena.models.spec import ModelBundle
from quantarena.results.environment import Environment
from quantarena.results.schema import Results, VariantResult

#: config keys that may differ on resume: where the output goes, the variant list (checked below),
#: where the image cache and dataset live (the image lists are compared by hash instead), and the
#: timeouts (they decide no number; raising one is how a timed-out variant gets its second chance)
FREE_KEYS = frozenset(
    {"out", "variants", "recipes", "cache_dir", "data", "build_timeout", "measure_timeout"}
)

#: measure keys that decide only the interleaved rounds, which a resumed run times again in full
ROUND_KEYS = ("measure.interleave", "measure.rounds_")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse(out: Path, what: str, before: Any, now: Any) -> ConfigError:
    return ConfigError(
        f"cannot resume {out}: {what} differs (earlier run: {_short(before)}; now: {_short(now)});"
        " use the earlier settings, or --overwrite to start again"
    )


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "recipes":
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _compare(out: Path, before: dict[str, Any], now: dict[str, Any],
             defaults: dict[str, Any] | None = None) -> None:
    """The first key whose value differs refuses the resume. A key the earlier run does not
    record (a setting added since) counts as its default in ``defaults``: a setting is added
    with a default that does what the tool did before it existed, so a run written earlier ran
    with it (e.g. ``scenarios``, off by default, in a run made before LoadGen was)."""
    missing = object()
    defaults = defaults or {}
    for key in [*before, *(k for k in now if k not in before)]:
        a, b = before.get(key, defaults.get(key, missing)), now.get(key, missing)
        if a != b:
            raise _refuse(
                out, key, "not set" if a is missing else a, "not set" if b is missing else b
            )


def check_config(earlier: Results, config: RunConfig, reference: str | None, out: Path) -> None:
    """The cheap checks, before anything is prepared: config, variant list, reference."""
    before, now = (
        {k: v for k, v in _flat(data).items() if not k.startswith(ROUND_KEYS)}
        for data in (
            {k: v for k, v in earlier.config.items() if k not in FREE_KEYS},
            {k: v for k, v in config.model_dump(mode="json").items() if k not in FREE_KEYS},
        )
    )
    _compare(out, before, now, _flat(RunConfig().model_dump(mode="json")))
    earlier_recipes: dict[str, Any] = earlier.config.get("recipes") or {}
    for v in earlier.variants:
        if v.name not in config.variants:
            raise ConfigError(
                f"cannot resume {out}: its variant {v.name} is not in --variants (the list may "
                "only grow); add it, or --overwrite to start again"
            )
        _compare(
            out,
            {f"recipe of {v.name}": earlier_recipes.get(v.name, {})},
            {f"recipe of {v.name}": config.recipes.get(v.name, {})},
        )
    if earlier.variants and earlier.reference != reference:
        raise _refuse(out, "the FP32 reference (earlier rows compare with it)", earlier.reference,
                      reference)


def _environment(env: Environment) -> dict[str, Any]:
    return {
        "CPU model": env.cpu.model,
        "INT8 dot product": env.cpu.int8.dot_product if env.cpu.int8 else None,
        "threads": env.threads,
        "CPU pinning": env.pin_cpus,
        "Python version": env.python,
        "quantarena version": env.quantarena,
    }


def check_setup(earlier: Results, fresh: Results, out: Path) -> None:
    """What can only be known once the model and data are prepared: model, image lists, machine,
    package versions (those of toolchains new to the run are recorded, not compared)."""
    model_keys = ("name", "source", "weights", "pretrained", "input_shape", "preprocessing")
    before, now = earlier.model.model_dump(mode="json"), fresh.model.model_dump(mode="json")
    # compared as JSON, the form the earlier run was read back from (tuples are lists there)
    _compare(
        out,
        {f"model {k}": before.get(k) for k in model_keys},
        {f"model {k}": now.get(k) for k in model_keys},
    )
    data_keys = {
        "root": "dataset folder",
        "eval_list_sha256": "evaluation image list (SHA-256)",
        "calibration_list_sha256": "calibration image list (SHA-256)",
    }
    _compare(
        out,
        {label: getattr(earlier.dataset, k) for k, label in data_keys.items()},
        {label: getattr(fresh.dataset, k) for k, label in data_keys.items()},
    )
    _compare(out, _environment(earlier.environment), _environment(fresh.environment))
    common = set(earlier.environment.packages) & set(fresh.environment.packages)
    _compare(
        out,
        {f"{name} version": earlier.environment.packages[name] for name in sorted(common)},
        {f"{name} version": fresh.environment.packages[name] for name in sorted(common)},
    )


def merged(earlier: Results, fresh: Results) -> Results:
    """The earlier results (their start, machine, model, data) with today's config, i.e. the
    grown variant list, and the versions of packages that only new toolchains use."""
    packages = dict(sorted({**fresh.environment.packages, **earlier.environment.packages}.items()))
    environment = earlier.environment.model_copy(update={"packages": packages})
    return earlier.model_copy(
        update={"config": fresh.config, "environment": environment, "finished_at": None}
    )


def reusable_bundle(out: Path) -> ModelBundle | None:
    """The FP32 bundle the earlier rows were built from. Reusing it (rather than preparing the
    model again) keeps every earlier artifact untouched and the new ones built from the same
    model; ``None`` when it is gone or was moved (then it is prepared again and compared)."""
    path = out / "fp32" / "bundle.json"
    try:
        bundle = ModelBundle.load(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return bundle if bundle.onnx_path.exists() else None


def kept_rows(earlier: Results, out: Path) -> dict[str, VariantResult]:
    """Earlier ``ok`` rows whose files are still there; everything else is measured again."""
    kept = {}
    for v in earlier.variants:
        files = [v.predictions_file, v.artifact.path if v.artifact else None]
        if v.status == "ok" and all(f is None or (out / f).exists() for f in files):
            kept[v.name] = v
    return kept
