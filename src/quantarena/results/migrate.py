"""Read results written by earlier schema versions: each step rewrites one major version's
layout into the next, so ``load_results`` always validates the current schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quantarena.errors import ResultsError

Data = dict[str, Any]


def _v1_variant(variant: Data, variants: list[Data]) -> Data:
    """1.x: ``energy`` held CPU seconds per image, joules only with a sensor, and its own
    ``unavailable``; no ``baseline`` was recorded."""
    energy = variant.pop("energy", None) or {}
    if energy.get("cpu_seconds_per_image") is not None:
        variant["cpu_time"] = {
            "batch": energy.get("batch", 0),
            "images": energy.get("images", 0),
            "window_s": energy.get("window_s", 0.0),
            "seconds_per_image": energy["cpu_seconds_per_image"],
        }
    if energy.get("joules_per_image") is not None:
        variant["energy"] = {
            "batch": energy.get("batch", 0),
            "images": energy.get("images", 0),
            "window_s": energy.get("window_s", 0.0),
            "joules_per_image": energy["joules_per_image"],
            "sources": list(energy.get("source", [])),
        }
    contention = variant.get("contention")
    if isinstance(contention, dict):
        contention.pop("warning", None)  # now derived from the numbers (Contention.notes)
    if variant.get("build") is not None:
        variant["build"].setdefault("facts", {})
    # 1.x had no declared baseline; its rule was the toolchain's FP32 variant, by name.
    same = sorted(
        v["name"]
        for v in variants
        if v.get("toolchain") == variant.get("toolchain")
        and v.get("precision") == "fp32"
        and v.get("status") == "ok"
        and v.get("latency_ms")
    )
    ok = variant.get("status") == "ok"
    variant.setdefault("baseline", same[0] if same and ok else None)
    return variant


def _from_v1(data: Data) -> Data:
    variants = [dict(v) for v in data.get("variants", [])]
    data["variants"] = [_v1_variant(v, variants) for v in variants]
    data["schema_version"] = "2.0"
    return data


#: major version -> the step that rewrites it as the next major version
STEPS: dict[int, Callable[[Data], Data]] = {1: _from_v1}


def migrate(data: Data, current_major: int, source: str) -> Data:
    """``data`` rewritten up to ``current_major``; an unknown or newer version is refused."""
    version = str(data.get("schema_version", ""))
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise ResultsError(
            f"{source} has schema version {version!r}, which this quantarena cannot read"
        ) from None
    if major > current_major:
        raise ResultsError(
            f"{source} has schema version {version}, newer than this quantarena reads "
            f"({current_major}.x): upgrade quantarena"
        )
    while major < current_major:
        if major not in STEPS:
            raise ResultsError(
                f"{source} has schema version {version}, which this quantarena cannot read"
            )
        data = STEPS[major](data)
        major += 1
    return data
