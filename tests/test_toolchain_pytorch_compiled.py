"""A compiled PyTorch session keeps one compiled graph per batch shape, for more shapes than
Dynamo's default limit (8): the Server scenario's dynamic batches 1..8 plus the throughput and
accuracy batches need more, and past the limit Dynamo would silently run the module uncompiled
(a PT2E call at the 9th shape took 1154 ms instead of ~17 ms)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantarena.toolchains.pytorch.runtime import RECOMPILE_LIMIT, load_compiled


def test_twelve_batch_shapes_all_run_compiled(tmp_path: Path) -> None:
    import torch
    from torch._dynamo.utils import counters

    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
    ).eval()
    artifact = tmp_path / "tiny.pt2"
    batch_dim = torch.export.Dim("batch", min=1, max=64)  # as the project's exports declare it
    program = torch.export.export(module, (torch.rand(2, 3, 8, 8),),
                                  dynamic_shapes=({0: batch_dim},))
    torch.export.save(program, str(artifact))
    session = load_compiled(artifact, freezing=False, quantized=False)
    assert session.details["recompile_limit"] == RECOMPILE_LIMIT
    graphs = counters["stats"]["unique_graphs"]
    limited = sum(v for k, v in counters["unimplemented"].items() if "recompile limit" in k)
    batch = np.random.default_rng(0).random((12, 3, 8, 8), dtype=np.float32)
    for size in range(2, 13):  # batch 1 was compiled during load
        out = session.run(batch[:size])
        expected = module(torch.from_numpy(batch[:size])).detach().numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert counters["stats"]["unique_graphs"] - graphs == 11  # a graph per new shape
    assert sum(v for k, v in counters["unimplemented"].items()
               if "recompile limit" in k) == limited
