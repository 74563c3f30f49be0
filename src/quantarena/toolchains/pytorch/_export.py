"""``torch.export`` programs on disk, shared by fp32-compiled, PT2E and QAT builds.

The artifact is a ``.pt2`` file with a dynamic batch dimension; a worker compiles it with Inductor
when it loads it (``runtime.load_compiled``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The largest batch the exported program accepts (a guard bound, not an allocation).
MAX_BATCH = 4096


def drop_unused_attributes(graph_module: Any) -> list[str]:
    """Delete tensors no node reads. ``convert_pt2e`` leaves the FP32 weights it replaced by
    folded int8 constants on the module; exporting it again would save both."""
    used = {node.target for node in graph_module.graph.nodes if node.op == "get_attr"}
    dropped = []
    for name in list(graph_module.state_dict(keep_vars=True)):
        if name in used:
            continue
        *path, leaf = name.split(".")
        owner = graph_module.get_submodule(".".join(path)) if path else graph_module
        delattr(owner, leaf)
        dropped.append(name)
    return dropped


def export_dynamic(module: Any, example: tuple[Any, ...]) -> Any:
    """``torch.export`` with a dynamic batch dimension, so calibration, training and inference
    may use any batch size."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    return torch.export.export(module, example, dynamic_shapes=({0: batch},))


def export_and_save(module: Any, example: tuple[Any, ...], target: Path) -> None:
    """Export ``module`` with a dynamic batch dimension and save it as ``.pt2``."""
    import torch

    program = export_dynamic(module, example)
    program.example_inputs = None  # real images have no place in a model file (and add MBs)
    torch.export.save(program, str(target))
