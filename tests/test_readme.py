"""The README's library example must keep working as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hellodoctor_domain import AppointmentStatus, Money

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_library_example_runs_and_books() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    scheduling: Any = namespace["scheduling"]
    booked: Any = namespace["appointment"]
    stored = scheduling.appointment(namespace["grace"], booked.id)
    assert stored.status is AppointmentStatus.CANCELLED
    assert stored.cancellation.refund == Money(8000, "GBP")  # two days ahead: in full


def _layout() -> list[tuple[Path, list[str]]]:
    """The README's layout block as (directory, names it lists) pairs."""
    text = README.read_text()
    block = re.search(r"## Layout\n.*?```\n(.*?)```", text, flags=re.DOTALL)
    assert block is not None, "README has a Layout section with a code block"
    root = README.parent
    entries: list[tuple[Path, list[str]]] = []
    for line in block.group(1).splitlines():
        paths = [token for token in line.split() if token.endswith("/")]
        if len(paths) > 1 or not line.startswith(paths[0] if paths else "\0"):
            entries.extend((root / path, []) for path in paths)
            continue
        listed = re.sub(r"\([^)]*\)", "", line[len(paths[0]) :])
        names = [name.strip() for name in listed.split(",")]
        modules = [name for name in names if re.fullmatch(r"[a-z][a-z0-9_]*", name)]
        # A free-text description (benchmarks/) lists no modules.
        entries.append((root / paths[0], modules if len(modules) == len(names) else []))
    return entries


def test_every_package_and_module_the_layout_names_exists() -> None:
    for directory, names in _layout():
        assert directory.is_dir(), f"README layout names {directory}, which does not exist"
        for name in names:
            candidates = [directory / f"{name}.py", directory / name, directory / f"{name}.md"]
            assert any(c.exists() for c in candidates), f"README layout names {directory}/{name}"


def test_the_layout_names_every_module_of_the_source_tree() -> None:
    layout = dict(_layout())
    src = README.parent / "src"
    for package in sorted(path.parent for path in src.rglob("__init__.py")):
        if "migrations" in package.relative_to(src).parts:
            continue  # Alembic's environment and frozen revisions
        assert package in layout, f"README layout does not show the package {package}"
        listed = set(layout[package])
        for child in package.iterdir():
            name = child.stem if child.suffix == ".py" else child.name
            if child.name in ("__init__.py", "__main__.py", "py.typed", "__pycache__"):
                continue
            is_package = (child / "__init__.py").exists()
            if child.suffix == ".py" or (is_package and child not in layout):
                assert name in listed, f"README layout omits {child.relative_to(src)}"
