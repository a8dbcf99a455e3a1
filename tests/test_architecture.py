"""The hexagon's dependency rule, as an allow-list (import-linter checks the forbidden edges).

The domain may import the standard library, attrs, and itself - nothing else, so that it runs
anywhere and can be reasoned about without any framework.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import hellodoctor_domain

ALLOWED = set(sys.stdlib_module_names) | {"attrs", "attr", "hellodoctor_domain"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_domain_imports_only_the_standard_library_and_attrs() -> None:
    package = Path(hellodoctor_domain.__file__).parent
    modules = sorted(package.rglob("*.py"))
    assert len(modules) > 5  # the walk really found the domain
    outward = {
        f"{module.relative_to(package)}: {name}"
        for module in modules
        for name in _imports(module) - ALLOWED
    }
    assert not outward, outward


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import json\nfrom sqlalchemy import select\nfrom . import sibling\n")
    assert _imports(sample) - ALLOWED == {"sqlalchemy"}
