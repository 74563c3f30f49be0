"""Opening an ONNX Runtime session on a GPU provider, and saying in one line why one cannot be.

ONNX Runtime gives up on a provider it cannot load without an error: the CUDA provider missing a
library leaves a CPU session, and Python's own fallback retries a failed session on the CPU.
Sessions are created here with ``enable_fallback=0`` and their providers checked, so a CPU timing
is never reported as GPU speed; when a provider's shared library does not load, the dynamic
loader's own line names the library missing (ONNX Runtime's text only points at a web page).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

from quantarena.errors import ModelError, ToolchainUnavailable, first_line
from quantarena.toolchains.onnxruntime.gpu_recipes import CUDA, TENSORRT, ProviderOptions

#: The provider options that carry the stream (a pointer: not reported).
STREAM_OPTIONS = ("user_compute_stream", "has_user_compute_stream")
#: The shared library of each provider inside the onnxruntime package.
_LIBRARY = {CUDA: "cuda", TENSORRT: "tensorrt"}
#: A dynamic loader's line that names one of TensorRT's own libraries.
_TENSORRT_LIBRARY = re.compile(r"lib(nvinfer|nvonnxparser)\w*\.so")


def import_gpu_onnxruntime(provider: str) -> Any:
    """``onnxruntime``, with CUDA and cuDNN preloaded from the ``nvidia-*`` wheels
    (``preload_dlls``, onnxruntime-gpu 1.21 and later) and TensorRT's libraries loaded by its
    Python package when installed; ``ToolchainUnavailable`` when the imported build has no
    ``provider`` (the CPU build, or both builds installed over each other)."""
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if callable(preload):
        preload()
    if provider == TENSORRT and importlib.util.find_spec("tensorrt") is not None:
        with contextlib.suppress(Exception):  # a broken tensorrt: the session says what is missing
            importlib.import_module("tensorrt")
    available = list(ort.get_available_providers())
    if provider not in available:
        package = build_info("package_name") or "onnxruntime"
        raise ToolchainUnavailable(
            f"the onnxruntime imported ({package} {ort.__version__}) has no {provider} "
            f"(it has {', '.join(available)}): onnxruntime-gpu must replace onnxruntime, never "
            "sit beside it (`make venv-gpu`)"
        )
    return ort


def graph_input(artifact: Path) -> tuple[str, tuple[int, ...]]:
    """The graph's single input: its name and per-sample shape (fixed, e.g. (3, 224, 224))."""
    import onnx

    graph = onnx.load(str(artifact), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelError(f"expected one input, {artifact.name} has {[i.name for i in inputs]}")
    dims = inputs[0].type.tensor_type.shape.dim[1:]
    if not dims or any(not d.HasField("dim_value") for d in dims):
        raise ModelError(f"input {inputs[0].name} of {artifact.name} needs fixed dimensions "
                         "after the batch")
    return inputs[0].name, tuple(int(d.dim_value) for d in dims)


def with_stream(asked: ProviderOptions, stream: int) -> ProviderOptions:
    """``asked`` with the session's CUDA stream given to every GPU provider."""
    on_stream = {"user_compute_stream": str(stream), "has_user_compute_stream": "1"}
    return [(name, {**options, **on_stream} if name in _LIBRARY else dict(options))
            for name, options in asked]


def create_session(ort: Any, path: Path, options: Any, providers: ProviderOptions) -> Any:
    """``InferenceSession`` with Python's CPU fallback off. TensorRT's provider failing to load
    becomes one line naming the library the dynamic loader misses (ONNX Runtime's own text only
    points at a web page, whatever is missing)."""
    try:
        return ort.InferenceSession(str(path), options, providers=providers, enable_fallback=0)
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own RuntimeError subclasses
        if "TensorRT libraries" not in str(exc) and "libnvinfer" not in str(exc):
            raise
        problem = library_problem(ort, TENSORRT) or first_line(exc)
        raise ToolchainUnavailable(cannot_load(TENSORRT, problem)) from exc


def check_providers(session: Any, asked: str, ort: Any = None) -> list[str]:
    """The providers ``session`` runs, when ``asked`` is among them; else one line naming what
    was asked and what runs (and, given ``ort``, why the provider did not load)."""
    ran = list(session.get_providers())
    if asked in ran:
        return ran
    problem = library_problem(ort, asked) if ort is not None else None
    if problem is not None and _TENSORRT_LIBRARY.search(problem):
        raise ToolchainUnavailable(cannot_load(asked, problem))
    why = f" ({problem})" if problem else ""
    raise ToolchainUnavailable(
        f"{asked} was asked for, but ONNX Runtime fell back to {' + '.join(ran)}: the provider "
        f"did not load{why}; a fallback's timing is never reported as {asked}'s"
    )


def cannot_load(provider: str, problem: str) -> str:
    """One line: the provider cannot load, the library missing (the dynamic loader's line), and
    where that library comes from."""
    cuda = build_info("cuda_version")
    if _TENSORRT_LIBRARY.search(problem):
        return tensorrt_missing(problem, cuda)
    if "cannot open shared object file" not in problem:
        return f"ONNX Runtime's {provider} cannot load ({problem})"
    built = f" (this onnxruntime-gpu is built for CUDA {cuda})" if cuda else ""
    return (f"ONNX Runtime's {provider} cannot load ({problem}): the CUDA and cuDNN libraries "
            f"come from the nvidia-* wheels torch installs, or from LD_LIBRARY_PATH{built}")


def library_problem(ort: Any, provider: str) -> str | None:
    """Why the provider's shared library does not load (the dynamic loader's own line, e.g.
    ``libnvinfer.so.10: cannot open shared object file``), or ``None`` when it loads."""
    name = _LIBRARY.get(provider)
    if name is None:
        return None
    path = Path(ort.__file__).parent / "capi" / f"libonnxruntime_providers_{name}.so"
    if not path.exists():
        return f"{path.name} is not part of this onnxruntime"
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        return first_line(exc)
    return None


def tensorrt_missing(problem: str, cuda: str | None) -> str:
    """One line: TensorRT's libraries are missing, which one, and how to get it."""
    found = re.search(r"lib\w+\.so\.(\d+)", problem)
    how = "install TensorRT and put its lib folder on LD_LIBRARY_PATH"
    if found and cuda:
        major, cuda_major = int(found.group(1)), cuda.split(".")[0]
        how = (f"install TensorRT {major}.x for CUDA {cuda_major} (pip install "
               f"'tensorrt-cu{cuda_major}>={major},<{major + 1}') or put its lib folder on "
               "LD_LIBRARY_PATH")
    return (f"TensorRT libraries missing: ONNX Runtime's TensorrtExecutionProvider cannot load "
            f"({problem}); {how}")


def build_info(field: str) -> str | None:
    """A field of the imported onnxruntime's build info ("package_name": "onnxruntime-gpu",
    "cuda_version": "13.0"), or ``None`` where the build does not say."""
    try:
        from onnxruntime.capi import build_and_package_info as info
    except ImportError:
        return None
    value = getattr(info, field, None)
    return str(value) if value else None
