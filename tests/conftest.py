"""Shared fixtures: the bundled rule set (loaded once), the fixture files, an app client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import RuleSet, bundled_rules_dir, load_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="session", autouse=True)
def _private_parse_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests' own cache of parsed files (api/runtime/cache.py), never the user's ~/.cache;
    and apps that decide in their own process (no decider processes started for each test app):
    the tests of deciding in processes (tests/api/runtime/test_deciders.py, the kill -9 test)
    turn them on where they mean to."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IOTSEC_CACHE_DIR", str(tmp_path_factory.mktemp("parse-cache")))
        mp.setenv("IOTSEC_DECIDE_PROCESSES", "0")
        yield


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
