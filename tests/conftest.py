"""Shared fixtures: the bundled rule set (loaded once), the fixture files, an app client."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from engine import RuleSet, bundled_rules_dir, load_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="session")
def ruleset() -> Iterator[RuleSet]:
    rs = load_rules(bundled_rules_dir())
    yield rs


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled rules, to break or change in a test."""
    target = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target
