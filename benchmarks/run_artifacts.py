"""What the timing benchmarks reuse from a finished run folder: each variant's timing job (its
recipe, artifact, the cached evaluation images, the run's threads), and workers that serve the
timing protocol with another loop than quantarena's timing worker (``vendor_loops.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantarena.config import RunConfig
from quantarena.data.cache import cache_split
from quantarena.data.dataset import discover
from quantarena.data.split import split_samples
from quantarena.models.spec import ModelBundle
from quantarena.runner.launcher import Launcher, worker_env
from quantarena.runner.plan import PlannedVariant, plan_variants
from quantarena.runner.timing_client import TimingWorker
from quantarena.runner.timing_protocol import TimingJob

HERE = Path(__file__).resolve().parent


@dataclass
class RunArtifacts:
    """A finished run: its config, its rows, and a timing job per variant that measured speed."""

    folder: Path
    config: RunConfig
    results: dict[str, Any]
    jobs: dict[str, tuple[PlannedVariant, TimingJob]]

    @classmethod
    def read(cls, folder: Path, variants: list[str] | None = None) -> RunArtifacts:
        results = json.loads((folder / "results.json").read_text())
        config = RunConfig.model_validate(results["config"])
        evaluation = evaluation_cache(folder, config)
        rows = {row["name"]: row for row in results["variants"]}
        jobs: dict[str, tuple[PlannedVariant, TimingJob]] = {}
        for planned in plan_variants(config):  # the runner's own recipes and slugs
            row = rows.get(planned.name)
            if variants is not None and planned.name not in variants:
                continue
            if row is None or row["status"] != "ok" or not row.get("artifact") \
                    or not row.get("latency_ms"):
                continue
            jobs[planned.name] = (planned, TimingJob(
                recipe=planned.recipe.to_payload(planned.name),
                artifact=folder / row["artifact"]["path"], evaluation=evaluation,
                threads=config.threads, warmup_max_seconds=config.measure.warmup_max_seconds,
            ))
        missing = sorted(set(variants or []) - set(jobs))
        if missing:
            raise SystemExit(f"{folder}: no measured artifact for {', '.join(missing)}")
        return cls(folder, config, results, jobs)

    def launcher(self, workdir: Path) -> Launcher:
        return Launcher.from_config(self.config, workdir / "logs")

    def in_children(
        self, script: str, args: list[str], prefix: str
    ) -> Iterator[tuple[str, dict[str, Any] | None, int]]:
        """Each variant's timing job handed to ``script --child JOB *args ANSWER`` in a fresh
        process with the run's worker environment (threads, allocator, pinning), one at a time;
        yields the variant, the JSON the child wrote (None if it wrote none) and its exit code."""
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            for name, (planned, job) in self.jobs.items():
                folder = Path(tmp) / planned.slug
                folder.mkdir()
                job_file, answer = folder / "job.json", folder / "answer.json"
                job_file.write_text(json.dumps({"job": job.model_dump(mode="json"),
                                                "config": self.config.model_dump(mode="json")}))
                code = subprocess.run(
                    [sys.executable, script, "--child", str(job_file), *args, str(answer)],
                    env=worker_env(self.config.threads, self.config.pin_cpus, self.config.malloc),
                    check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ).returncode
                found = json.loads(answer.read_text()) if answer.exists() else None
                yield name, (found if code == 0 else None), code

    def measure_file(self, workdir: Path) -> Path:
        """The run's measure settings, for the latency pass in ``vendor_loops.py``."""
        path = workdir / "measure.json"
        path.write_text(json.dumps(self.results["config"]["measure"]))
        return path


def evaluation_cache(run: Path, config: RunConfig) -> Path:
    """The run's cached evaluation split (rebuilt from the images if the cache was cleared)."""
    bundle = ModelBundle.load(run / "fp32" / "bundle.json")
    _, samples = discover(config.data)
    split = split_samples(samples, config.calibration_images, config.eval_images, config.seed)
    return cache_split(split.evaluation, bundle.preprocessing, config.cache_dir, "evaluation",
                       config.threads)


class LoopWorker(TimingWorker):
    """A kept-loaded process running ``vendor_loops.py MODE`` (same protocol, same environment:
    threads, allocator, pinning, as quantarena's timing workers get)."""

    def __init__(self, mode: str, slug: str, job: TimingJob, launcher: Launcher,
                 measure: Path | None = None) -> None:
        super().__init__(f"{mode} {slug}", f"{mode}-{slug}", job, launcher)
        self.mode, self.measure = mode, measure

    def command(self, job_path: Path) -> list[str]:
        extra = [str(self.measure)] if self.measure is not None else []
        return [sys.executable, str(HERE / "vendor_loops.py"), self.mode, str(job_path), *extra]
