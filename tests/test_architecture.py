"""The shape of the code, checked: toolchains are known only inside ``toolchains/``, every toolchain
package has the same files, and no ``type: ignore`` hides an error without saying why."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from quantarena.toolchains.registry import BUILTIN, DEFAULT_VARIANTS

SRC = Path(__file__).resolve().parents[1] / "src" / "quantarena"
TOOLCHAINS = SRC / "toolchains"
NAMES = tuple(BUILTIN)


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_code_outside_toolchains_names_a_toolchain_or_recipe() -> None:
    """A string that is a toolchain name or a variant (``pytorch``, ``"onnxruntime:fp32"``,
    ``"tensorrt:"`` ...) outside ``toolchains/`` would be a branch on a name; help texts may show
    an example variant inside a sentence, never as the whole string."""
    pattern = re.compile(rf"^({'|'.join(NAMES)})(:[\w.-]*)?$")
    found = []
    for path in _python_files(SRC):
        if TOOLCHAINS in path.parents:
            continue
        for line, value in _string_constants(path):
            if pattern.match(value.strip()):
                found.append(f"{path.relative_to(SRC)}:{line}: {value!r}")
    assert not found, found


def test_the_check_above_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "chart.py"
    sample.write_text('baseline = f"{toolchain}:fp32"\nif toolchain == "pytorch":\n    pass\n')
    values = [value for _, value in _string_constants(sample)]
    pattern = re.compile(rf"^({'|'.join(NAMES)})(:[\w.-]*)?$")
    assert any(pattern.match(v) for v in values) and any(v == ":fp32" for v in values)


def test_default_variants_live_in_the_registry_only() -> None:
    for path in _python_files(SRC):
        if path.name == "registry.py":
            continue
        text = path.read_text()
        assert not all(v in text for v in DEFAULT_VARIANTS[:3]), path


def test_every_toolchain_package_has_the_same_files() -> None:
    expected = {"__init__.py", "recipes.py", "build.py", "runtime.py", "toolchain.py"}
    for name, target in BUILTIN.items():
        module = name.replace("-", "_")  # a variant's toolchain name may hold a hyphen
        package = TOOLCHAINS / module
        assert package.is_dir(), name
        assert expected <= {p.name for p in package.iterdir()}, name
        assert target == f"quantarena.toolchains.{module}.toolchain:{target.split(':')[1]}"


def test_no_type_ignore_without_a_reason() -> None:
    bare = []
    for path in _python_files(SRC):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "type: ignore" in line and not re.search(
                r"type: ignore\[[\w-]+(, *[\w-]+)*\] *# *\S", line
            ):
                bare.append(f"{path.relative_to(SRC)}:{number}")
    assert not bare, bare


def test_no_module_grows_past_a_few_hundred_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _python_files(SRC)
        if (n := len(p.read_text().splitlines())) > 350 and p.name != "qdq_rules.py"
    }
    assert not long, long
