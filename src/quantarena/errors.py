"""Exceptions that carry their exit code, so the CLI prints one clear line, not a traceback."""

from __future__ import annotations


class QuantarenaError(Exception):
    """Base class for every error the user can fix; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class ConfigError(QuantarenaError):
    """A flag, YAML key, variant or recipe knob is invalid."""

    exit_code = 2


class DataError(QuantarenaError):
    """The dataset folder is missing, empty, mislabeled, or holds an unreadable image."""

    exit_code = 3


class ModelError(QuantarenaError):
    """The model name is unknown, its weights are missing, or its ONNX file is corrupt."""

    exit_code = 4


class ToolchainUnavailable(QuantarenaError):
    """A toolchain cannot run here (package missing, no GPU, unsupported model); not a crash."""

    exit_code = 5


class ResultsError(QuantarenaError):
    """A results file is missing, unreadable, or of an unknown schema version."""

    exit_code = 6


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (runtimes print pages), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
