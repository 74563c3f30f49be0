"""Exceptions that carry their exit code, so the CLI prints one clear line, not a traceback.

The exit codes are one table (the README's Errors section shows the same one, and a test keeps
the two equal): a script that runs quantarena can tell a typo from a full disk from a variant
that broke without reading the message.

====  =============================================================================
code  meaning
====  =============================================================================
0     every variant ran (``ok`` or ``unavailable`` rows)
1     the run finished and at least one variant is a ``failed`` row
2     configuration (``ConfigError``)
3     data (``DataError``)
4     model (``ModelError``)
5     toolchain unavailable (``ToolchainUnavailable``)
6     results file (``ResultsError``)
7     output folder (``OutputError``)
130   interrupted (Ctrl-C, SIGINT)
143   terminated (SIGTERM)
====  =============================================================================

Anything else that escapes is a bug in quantarena and keeps its traceback, so it can be reported.
"""

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


class OutputError(QuantarenaError):
    """What quantarena writes cannot be written: the output folder cannot be created (not
    writable, a file in its place) or the disk is full. Not a failed variant (exit 1): nothing
    about the model or the toolchains was learned."""

    exit_code = 7


def one_line(exc: BaseException) -> str:
    """The whole message on one line: the CLI's contract is one line on stderr per error, and a
    message that spans lines (a runtime's text passed through) must not break it, nor lose its
    later lines."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines) if lines else type(exc).__name__


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (runtimes print pages), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
