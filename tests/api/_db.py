"""Decision-log databases for tests: SQLite always, PostgreSQL when IOTSEC_TEST_POSTGRES_URL is set.

Each PostgreSQL test gets a schema of its own (search_path in the URL), dropped afterwards. In CI
(IOTSEC_TEST_STRICT=1) a missing PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from api.decision_log.database import normalize_url

PG_ENV = "IOTSEC_TEST_POSTGRES_URL"


def missing(reason: str) -> None:
    """Skip for lack of setup on a developer machine; fail in CI, where nothing may be skipped."""
    if os.environ.get("IOTSEC_TEST_STRICT") == "1":
        pytest.fail(f"{reason} (IOTSEC_TEST_STRICT=1: .ci/run should have provided it)")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty decision-log database URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'decisions.sqlite3'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        missing(f"{PG_ENV} is not set: no PostgreSQL to test against")
    base = normalize_url(base or "")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # a set but unreachable server is a setup problem, said plainly
        admin.dispose()
        missing(f"PostgreSQL at {PG_ENV} not reachable: {type(exc).__name__}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
