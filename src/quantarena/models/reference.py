"""What ``--model`` names, decided from its text alone (no import, no I/O): an ONNX file, a
torchvision classifier, or a user's PyTorch factory written ``package.module:factory``.

The three forms cannot collide: a path ending in ``.onnx`` is always a file, a factory always has
a colon (no torchvision name or plain module path has one), anything else is a torchvision name.
Keyword arguments for the factory go in the same string, ``package.module:factory(key=value)``;
their values are Python literals read with ``ast.literal_eval``, so no code from the command line
is ever evaluated. Pure and cheap, so the config layer can validate ``--model`` before any worker
starts.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

from quantarena.errors import ModelError

ModelKind = Literal["onnx", "factory", "torchvision"]

_MODULE_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")
SYNTAX = "package.module:factory or package.module:factory(key=value, ...)"


def model_kind(model: str) -> ModelKind:
    """Which source ``model`` names (the order of the tests is the rule that keeps them apart)."""
    if model.lower().endswith(".onnx"):
        return "onnx"
    if ":" in model:
        return "factory"
    return "torchvision"


def run_stem(model: str) -> str:
    """A file-name-safe stem for the default output folder: an ONNX file's stem, a torchvision
    name as is, a factory reference with every run of other characters turned into ``_``."""
    kind = model_kind(model)
    if kind == "onnx":
        return PurePath(model).stem
    if kind == "factory":
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", model).strip("_")
    return model


@dataclass(frozen=True)
class FactoryRef:
    """A callable to import and call: ``module`` (dotted import path), ``attribute`` (dotted path
    inside it, e.g. ``Class.from_name``) and literal keyword arguments."""

    module: str
    attribute: str
    kwargs: dict[str, object] = field(default_factory=dict)

    def text(self) -> str:
        """The canonical spelling, recorded in the bundle and the results (and parsed back)."""
        args = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return f"{self.module}:{self.attribute}" + (f"({args})" if self.kwargs else "")

    def call_text(self) -> str:
        """How the call reads in messages: ``module:attribute(...)``."""
        return self.text() if self.kwargs else f"{self.text()}()"


def _dotted(node: ast.expr, text: str) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value, text)}.{node.attr}"
    raise ModelError(f"--model {text!r}: the factory must be a name, e.g. {SYNTAX}")


def parse_factory(text: str) -> FactoryRef:
    """``text`` as a ``FactoryRef``; a malformed reference raises ``ModelError`` with the syntax."""
    module, _, rest = text.partition(":")
    module, rest = module.strip(), rest.strip()
    if not _MODULE_PATH.match(module):
        raise ModelError(
            f"--model {text!r}: {module!r} is not an importable module path (expected {SYNTAX}; "
            "a file path is not accepted, the module must be installed or on PYTHONPATH)"
        )
    try:
        node = ast.parse(rest, mode="eval").body
    except SyntaxError:
        raise ModelError(f"--model {text!r} does not parse: expected {SYNTAX}") from None
    kwargs: dict[str, object] = {}
    if isinstance(node, ast.Call):
        if node.args:
            raise ModelError(f"--model {text!r}: pass factory arguments by keyword (key=value)")
        for keyword in node.keywords:
            if keyword.arg is None:
                raise ModelError(f"--model {text!r}: ** is not accepted, name each argument")
            try:
                kwargs[keyword.arg] = ast.literal_eval(keyword.value)
            except ValueError:
                raise ModelError(
                    f"--model {text!r}: argument {keyword.arg!r} must be a Python literal "
                    "(number, string, True/False/None, list, tuple, dict)"
                ) from None
        node = node.func
    return FactoryRef(module=module, attribute=_dotted(node, text), kwargs=kwargs)
