"""The package's public names: each name of _WHERE loads from the module it names, __all__ is
exactly those names, and what a type checker is shown (the TYPE_CHECKING imports) is the same list."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import api.decision_log as package


def test_every_public_name_loads_from_the_module_it_names() -> None:
    for name, module in package._WHERE.items():
        value = getattr(package, name)
        assert value is getattr(importlib.import_module(f"api.decision_log.{module}"), name), name
    assert package.__all__ == sorted(package._WHERE)


def test_the_type_checker_is_shown_the_same_names_from_the_same_modules() -> None:
    tree = ast.parse(Path(package.__file__).read_text(encoding="utf-8"))
    shown: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module is not None
                for alias in stmt.names:
                    assert alias.asname == alias.name  # "X as X": exported to the type checker
                    shown[alias.name] = stmt.module.rsplit(".", 1)[1]
    assert shown == package._WHERE
