"""The engine never imports Home Assistant: it must run, and be tested, without it."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).parents[2] / "custom_components" / "bess" / "engine"


def _imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at any depth of the syntax tree."""
    modules: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                modules.append(node.module)
            elif node.level >= 2:
                # A relative import climbing out of engine/ reaches the integration.
                modules.append(f"{'.' * node.level}{node.module or ''}")
    return modules


def test_engine_files_exist() -> None:
    files = sorted(p.name for p in ENGINE.glob("*.py"))
    assert {"models.py", "optimizer.py", "cost.py", "ports.py"} <= set(files)


def test_engine_never_imports_homeassistant() -> None:
    offenders = {
        str(path.relative_to(ENGINE)): module
        for path in ENGINE.rglob("*.py")
        for module in _imported_modules(path)
        if module.split(".")[0] == "homeassistant" or module.startswith("..")
    }
    assert offenders == {}


def test_the_check_sees_nested_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    from homeassistant.core import HomeAssistant\n    import voluptuous\n"
    )
    assert _imported_modules(sample) == ["homeassistant.core", "voluptuous"]
