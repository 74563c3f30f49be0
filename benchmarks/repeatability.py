"""Are quantarena's latency numbers repeatable? Measure each variant of a run twice, back to
back, each time in a fresh worker exactly as ``quantarena run`` does, and print the batch-1
medians, their difference in percent, and whether each run's 95% CI of the median covers the
other run's median.

    python benchmarks/repeatability.py --run runs/demo
"""

from __future__ import annotations

import argparse
from pathlib import Path

from quantarena.results.io import load_results
from quantarena.runner.jobs import MeasureJob
from quantarena.runner.launcher import Launcher
from quantarena.runner.plan import variant_slug


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, required=True, help="a quantarena run folder")
    parser.add_argument(
        "--variants", default=None, help="comma-separated subset (default: every ok variant)"
    )
    args = parser.parse_args()
    results = load_results(args.run)
    wanted = set(args.variants.split(",")) if args.variants else None
    scratch = args.run / "repeatability"
    launcher = Launcher(
        threads=int(results.config["threads"]),
        pin_cpus=results.config.get("pin_cpus"),
        malloc=results.config.get("malloc", "system"),
        log_dir=scratch,
        build_timeout=1800,
        measure_timeout=900,
    )
    print(f"{'variant':<28} {'p50 run 1':>10} {'p50 run 2':>10} {'diff %':>7}  CI covers other")
    for v in results.variants:
        if v.status != "ok" or v.latency_ms is None or (wanted and v.name not in wanted):
            continue
        slug = variant_slug(v.name)
        job = MeasureJob.model_validate_json(
            (args.run / "logs" / f"{slug}.measure.job.json").read_text()
        )
        job = job.model_copy(
            update={"timing_only": True, "predictions_path": scratch / f"{slug}.npz"}
        )
        medians, cis = [], []
        for attempt in (1, 2):
            outcome = launcher.run(job, f"{slug}.{attempt}")
            latency = outcome.result.latency_ms if outcome.result else None
            if outcome.status != "ok" or latency is None:
                print(f"{v.name:<28} failed: {outcome.reason}")
                break
            medians.append(latency.p50)
            cis.append(latency.p50_ci95)
        if len(medians) < 2:
            continue
        diff = (medians[1] - medians[0]) / medians[0] * 100.0
        covers = [cis[0][0] <= medians[1] <= cis[0][1], cis[1][0] <= medians[0] <= cis[1][1]]
        print(
            f"{v.name:<28} {medians[0]:>10.3f} {medians[1]:>10.3f} {diff:>+7.2f}  {sum(covers)}/2"
        )


if __name__ == "__main__":
    main()
