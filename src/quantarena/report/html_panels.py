"""The disclosure panels of ``report.html``: dataset, model, machine and run, from the typed
results blocks (unknown keys from newer writers are shown too, never dropped)."""

from __future__ import annotations

import json
from typing import Any

from quantarena.report.html_blocks import Code, e, kv
from quantarena.results.environment import Environment, Load
from quantarena.results.schema import Results


def _load_text(load: Load | None) -> str:
    if load is None:
        return "not recorded"
    text = f"CPU {load.cpu_percent:.0f}%, load average {load.loadavg_1m:.1f} (1 min)"
    return text + (" — busy" if load.warning else "")


def environment_panel(env: Environment) -> str:
    cpu = env.cpu
    isa = "".join(f'<span class="{"on" if on else "off"}">{e(flag)}</span>'
                  for flag, on in cpu.isa.items())
    gpus = "; ".join(f"{g.name} (driver {g.driver}, {g.memory})" for g in env.gpu or [])
    pairs: list[tuple[str, Any]] = [
        ("CPU", cpu.model), ("architecture", cpu.arch),
        ("INT8 dot product", cpu.int8.describe() if cpu.int8 else "not recorded"),
        ("cores", f"{cpu.physical_cores} physical, {cpu.logical_cores} logical"),
        ("threads", env.threads), ("CPU pinning", env.pin_cpus or "none"),
        ("memory", f"{env.memory_gb} GB"), ("OS", env.os), ("Python", env.python),
        ("quantarena", env.quantarena), ("GPU", gpus or "none"),
        ("load before measuring", _load_text(env.load_before)),
        *(env.model_extra or {}).items(),
    ]
    packages = "".join(f"<tr><td><code>{e(k)}</code></td><td class='l'>{e(v or 'not installed')}"
                       "</td></tr>" for k, v in env.packages.items())
    return (kv(pairs) + f'<div class="chips"><b>ISA flags</b> {isa or "none recorded"}</div>'
            f'<h3>Packages</h3><div class="scroll"><table><tbody>{packages}</tbody></table></div>')


def dataset_panel(results: Results) -> str:
    d = results.dataset
    return kv([
        ("name", d.name), ("root", Code(d.root)), ("layout", d.layout),
        ("evaluation images", d.eval_images), ("calibration images", d.calibration_images),
        ("split seed", d.seed), ("evaluation list SHA-256", Code(d.eval_list_sha256)),
        ("calibration list SHA-256", Code(d.calibration_list_sha256)),
        ("skipped images", len(d.skipped_images)),
        ("ignored folders", ", ".join(d.ignored_folders) or "none"),
        ("image warnings", f"{d.image_notes_count}: " + "; ".join(d.image_notes)
         if d.image_notes_count else "none"),
        *(d.model_extra or {}).items(),
    ])


def model_panel(results: Results) -> str:
    m = results.model
    return kv([
        ("name", m.name), ("source", m.source), ("weights", m.weights),
        ("pretrained", m.pretrained),
        ("input shape", "×".join(str(s) for s in m.input_shape)),
        ("preprocessing", m.preprocessing), *[("note", n) for n in m.notes],
        *(m.model_extra or {}).items(),
    ])


def run_panel(results: Results) -> str:
    config = e(json.dumps(results.config, indent=2, sort_keys=True, default=str))
    return kv([
        ("started", results.started_at), ("finished", results.finished_at or "not finished"),
        ("tool", f"{results.tool.name} {results.tool.version}"),
        ("results schema", results.schema_version), ("reference", results.reference or "none"),
    ]) + f"<details><summary>Full run configuration</summary><pre>{config}</pre></details>"
