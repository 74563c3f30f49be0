"""Read LoadGen's ``mlperf_log_summary.txt`` into a ``LoadgenSummary``: the verdict, the checks
behind it, the headline metric, the latency percentiles and the early-stopping estimates. The
text is LoadGen's own; this parser only reads the lines it writes (LoadGen 4.x to 6.x)."""

from __future__ import annotations

import re
from pathlib import Path

from quantarena.errors import QuantarenaError
from quantarena.results.scenarios import LoadgenSummary

_PERCENTILE = re.compile(r"^([\d.]+) percentile latency \(ns\)\s*:\s*([\d.]+)")
_STAT = re.compile(r"^(Min|Max|Mean) latency \(ns\)\s*:\s*([\d.]+)")
_CHECK = re.compile(r"^(.+?satisfied)\s*:\s*(Yes|NO|No)\s*$")
_EARLY = re.compile(r"Early stopping ([\d.]+)th percentile estimate:\s*([\d.]+)")
_HEADLINE = (
    "percentile latency (ns)",
    "Samples per second",
    "Completed samples per second",
)


class SummaryError(QuantarenaError):
    """LoadGen wrote no summary, or one this parser cannot read."""


def _percent_key(text: str) -> str:
    """ "90.00" -> "90", "99.90" -> "99.9" """
    return f"{float(text):g}"


def parse_summary(path: Path, relative_to: Path | None = None) -> LoadgenSummary:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SummaryError(f"LoadGen wrote no readable summary at {path}: {exc.strerror}") from exc
    fields: dict[str, str] = {}
    checks: dict[str, bool] = {}
    latency: dict[str, float] = {}
    early: dict[str, float] = {}
    reasons: list[str] = []
    metric, metric_value = "", None
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("==="):
            continue
        if line in ("Recommendations:", "Early Stopping Result:", "Additional Stats",
                    "Test Parameters Used"):
            section = line
            continue
        if match := _EARLY.search(line):
            early[_percent_key(match.group(1))] = float(match.group(2)) / 1e6
        advice = section in ("Recommendations:", "Early Stopping Result:")
        if advice and line.startswith("*"):
            reasons.append(line.lstrip("* ").strip())
            continue
        if advice and reasons and ":" not in line:
            reasons[-1] += " " + line  # a wrapped line of the one before
            continue
        if match := _CHECK.match(line):
            checks[match.group(1).strip()] = match.group(2) == "Yes"
            continue
        if match := _PERCENTILE.match(line):
            if section == "Additional Stats":
                latency[_percent_key(match.group(1))] = float(match.group(2)) / 1e6
        elif match := _STAT.match(line):
            latency[match.group(1).lower()] = float(match.group(2)) / 1e6
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        fields.setdefault(key, value)
        if not metric and section == "" and any(h in key for h in _HEADLINE):
            metric, metric_value = key, _number(value)
    verdict = fields.get("Result is")
    if verdict not in ("VALID", "INVALID") or "Scenario" not in fields:
        raise SummaryError(f"{path} is not a LoadGen summary this version can read")
    failed = [f"{name}: NO" for name, ok in checks.items() if not ok]
    rate = fields.get("Completed samples per second") or fields.get("Samples per second") or \
        fields.get("QPS w/ loadgen overhead")
    return LoadgenSummary(
        scenario=fields["Scenario"],
        mode=fields.get("Mode", ""),
        valid=verdict == "VALID",
        checks=checks,
        reasons=[*failed, *reasons] if verdict == "INVALID" else reasons,
        metric=metric,
        metric_value=metric_value,
        samples_per_s=_number(rate) if rate else None,
        latency_ms=latency,
        early_stopping_ms=early,
        target_qps=_number(fields["target_qps"]) if "target_qps" in fields else None,
        summary_file=(
            path.relative_to(relative_to).as_posix() if relative_to is not None else str(path)
        ),
    )


def _number(text: str) -> float | None:
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        return None
