"""quantarena: benchmark model-quantization toolchains fairly.

Public API (importing it loads no runtime; toolchains are imported only when used):

    from quantarena import RunConfig, run_benchmark, load_results
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["RunConfig", "run_benchmark", "load_results", "__version__"]

if TYPE_CHECKING:
    from quantarena.config import RunConfig
    from quantarena.results.io import load_results
    from quantarena.runner.pipeline import run_benchmark


def __getattr__(name: str) -> Any:
    if name == "RunConfig":
        from quantarena.config import RunConfig

        return RunConfig
    if name == "run_benchmark":
        from quantarena.runner.pipeline import run_benchmark

        return run_benchmark
    if name == "load_results":
        from quantarena.results.io import load_results

        return load_results
    raise AttributeError(name)
