"""The core depends on no plugin and not on the simulator: they depend on it."""

from __future__ import annotations

import ast
from pathlib import Path

import roomsync

CORE = Path(roomsync.__file__).parent


def imported_modules(source: Path) -> set[str]:
    """Every module ``source`` imports, at the top or inside a function."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_core_imports_no_plugin_and_not_the_simulator() -> None:
    outside = {
        f"{path.relative_to(CORE)}: {module}"
        for path in sorted(CORE.rglob("*.py"))
        for module in imported_modules(path)
        if module.split(".")[0].startswith("roomsync_")
    }
    assert not outside, sorted(outside)


def test_imported_modules_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import os\ndef f():\n    from roomsync_sim.embedded import serve\n    import a.b\n")

    assert imported_modules(source) == {"os", "roomsync_sim.embedded", "a.b"}
