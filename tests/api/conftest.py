"""An app client on the bundled rules, with tokens configured, and a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.runtime.settings import Settings
from api.web.app import create_app

ADMIN = "admin-token-for-tests-0123456789"
STAFF = "staff-token-for-tests-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN, staff_token=STAFF)  # type: ignore[arg-type]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c
