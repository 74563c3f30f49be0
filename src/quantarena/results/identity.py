"""What makes two runs' figures comparable image by image: the same model, the same input and the
same evaluation images. ``quantarena merge`` refuses runs that differ here; ``compare`` lists the
differences. One list, so the two can never disagree on what "the same experiment" means."""

from __future__ import annotations

from collections.abc import Callable

from quantarena.results.schema import Results

Reader = Callable[[Results], object]

#: (what it is, how to read it), in the order differences are named
SAME_EXPERIMENT: list[tuple[str, Reader]] = [
    ("model", lambda r: r.model.name),
    ("model source", lambda r: r.model.source),
    ("weights", lambda r: r.model.weights),
    ("input shape", lambda r: r.model.input_shape),
    ("preprocessing", lambda r: r.model.preprocessing),
    ("evaluation images", lambda r: r.dataset.eval_images),
    ("evaluation list (SHA-256)", lambda r: r.dataset.eval_list_sha256),
]
