"""What does gathering a batch cost Offline, and does gathering the next one during the call help?

The Offline SUT gathers each batch's cached images into one array on its serving thread, then
calls the session; the throughput pass times the call alone on a ready batch. In one process per
variant, on one loaded session, this serves the same random order of cached images four ways,
alternated: with the sample library the SUT uses (``CachedImages.inputs``: one ``np.take`` into
a reused buffer, a row's view at batch 1), stacking each batch into a fresh array (what the
library did before it kept a store), one batch gathered beforehand and reused (the throughput
pass's view), and the next batch stacked by a second thread during the current call.

    .venv/bin/python benchmarks/offline_gather.py --run runs/demo \
        --variants openvino:int8=32,onnxruntime:int8=1

Run it on a quiet machine: it is one measurement.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.data.cache import load_split
from quantarena.serving.qsl import CachedImages
from quantarena.toolchains.registry import recipe_from_payload
from run_artifacts import RunArtifacts

IMAGES = 256
#: distinct ready batches the cycled form takes turns with (4 × 19 MB at 32 images: more than
#: the caches hold)
CYCLED = 4


def one_variant(session: Any, library: CachedImages, batch: int, repeats: int,
                passes: int) -> dict[str, float]:
    """img/s of each way of serving, median over alternated repetitions."""
    images = library.loaded
    order = np.random.default_rng(0).permutation(np.tile(np.arange(len(images)), passes))
    batches = [order[i : i + batch].tolist() for i in range(0, len(order) - batch + 1, batch)]

    def gather(indices: list[int]) -> np.ndarray:
        return np.stack([images[i] for i in indices])

    def library_gathering() -> None:
        for indices in batches:
            session.run(library.inputs(indices))

    ready = gather(batches[0])
    pool = ThreadPoolExecutor(max_workers=1)

    def gathering() -> None:
        for indices in batches:
            session.run(gather(indices))

    def ready_batch() -> None:
        for _ in batches:
            session.run(ready)

    distinct = [gather(indices) for indices in batches[:CYCLED]]

    def ready_batches() -> None:
        for k in range(len(batches)):
            session.run(distinct[k % len(distinct)])

    def overlapped() -> None:
        following = pool.submit(gather, batches[0])
        for k in range(len(batches)):
            inputs = following.result()
            if k + 1 < len(batches):
                following = pool.submit(gather, batches[k + 1])
            session.run(inputs)

    forms: dict[str, Callable[[], None]] = {
        "sample library": library_gathering, "stacking each batch": gathering,
        "batch ready": ready_batch, f"{CYCLED} batches ready, cycled": ready_batches,
        "next gathered during the call": overlapped,
    }
    for form in forms.values():
        form()  # warm-up
    rates: dict[str, list[float]] = {label: [] for label in forms}
    served = len(batches) * batch
    for r in range(repeats):
        for label in (list(forms) if r % 2 else list(forms)[::-1]):
            start = time.perf_counter()
            forms[label]()
            rates[label].append(served / (time.perf_counter() - start))
    pool.shutdown()
    return {label: statistics.median(values) for label, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="a finished run")
    parser.add_argument("--variants", default="openvino:int8=32,onnxruntime:int8=1",
                        help="VARIANT=BATCH, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="alternated repetitions")
    parser.add_argument("--passes", type=int, default=4, help="times each image is served")
    args = parser.parse_args()
    wanted = dict(item.split("=") for item in args.variants.split(","))
    run = RunArtifacts.read(args.run, list(wanted))
    print(f"img/s, median of {args.repeats} alternated repetitions of {IMAGES * args.passes} "
          "images in random order")
    for name, (_, job) in run.jobs.items():
        toolchain, recipe = recipe_from_payload(job.recipe)
        session = toolchain.load(job.artifact, recipe, job.threads)
        library = CachedImages(load_split(job.evaluation))
        library.load(list(range(min(IMAGES, library.count))))
        rates = one_variant(session, library, int(wanted[name]), args.repeats, args.passes)
        cells = "   ".join(f"{label} {rate:.1f}" for label, rate in rates.items())
        print(f"{name} @{wanted[name]}: {cells}")


if __name__ == "__main__":
    main()
