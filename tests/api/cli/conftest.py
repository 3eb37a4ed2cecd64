"""Every command test writes its decision log (triage and batch record what they decide) under a
temporary data directory, never into the checkout's data/."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_decision_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IOTSEC_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.delenv("IOTSEC_DATABASE_URL", raising=False)
