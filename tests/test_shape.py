"""The shape of the code: modules use each other's public names only.

A name with a leading underscore is private to its module. Another module of
veil, a benchmark or a test of another module that imports it (``from x import
_y``) or reaches it (``x._y`` on an imported module) depends on what may change
without notice; that is how private helpers became the real API in v0.1.
A test may reach the private names of the one module it tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "veil"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str | None, level: int, here: str, is_package: bool) -> str:
    if not level:
        return module or ""
    base = here.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(path: Path, here: str | None) -> list[tuple[int, str, str]]:
    """(line, module, name) for each private name of another veil module used in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    modules: dict[str, str] = {}  # local name -> veil module it is bound to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(node.module, node.level, here or "", is_package)
            if not target.startswith("veil"):
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if _private(alias.name) and target != here:
                    found.append((node.lineno, target, alias.name))
                modules[alias.asname or alias.name] = full
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("veil"):
                    modules[alias.asname or alias.name.split(".")[0]] = alias.asname and alias.name or "veil"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name):
            target = modules.get(node.value.id)
            if target and target != here:
                found.append((node.lineno, target, node.attr))
    return found


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _files(SRC), ids=lambda p: str(p.relative_to(ROOT)))
def test_veil_modules_use_public_names_only(path):
    here = _module_name(path)
    assert private_uses(path, here) == []


@pytest.mark.parametrize("path", _files(ROOT / "bench"), ids=lambda p: str(p.relative_to(ROOT)))
def test_benchmarks_use_public_names_only(path):
    assert private_uses(path, None) == []


@pytest.mark.parametrize("path", [p for p in _files(ROOT / "tests") if p.name.startswith("test_")],
                         ids=lambda p: p.name)
def test_a_test_reaches_private_names_of_one_module_at_most(path):
    modules = {module for _, module, _ in private_uses(path, None)}
    assert len(modules) <= 1, sorted(modules)


def test_the_checker_sees_private_uses(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from veil.pipeline import _walk, plan_run\nimport veil.detect as d\nd._cached\n"
                      "from .image import _one_line\n")
    uses = private_uses(sample, "veil.media.metadata")
    assert [(m, n) for _, m, n in uses] == [("veil.pipeline", "_walk"), ("veil.media.image", "_one_line"),
                                            ("veil.detect", "_cached")]
