"""No silent loss: a SQLite file deleted or replaced under the service, and writes that fail (a full
disk), are noticed: the answer says `failed`, /healthz says degraded, and a batch's per-item log
state is what the database holds."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.decision_log import DecisionLog
from api.runtime.settings import Settings
from api.web.app import create_app
from tests.api.conftest import STAFF

GOOD = {"title": "Security requirements for smart irrigation gateways"}


def _item(n: int) -> dict[str, str]:
    return dict(GOOD, reference=f"Y.loss-{n}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    path = tmp_path / "db" / "decisions.sqlite3"
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{path}", staff_token=STAFF)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        assert c.post("/v1/triage", json=_item(0)).headers["x-decision-log"] == "recorded"
        yield c, path


def _health(c: TestClient) -> dict[str, Any]:
    r = c.get("/healthz")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def test_a_deleted_sqlite_file_is_noticed_and_never_answered_as_recorded(
    served: tuple[TestClient, Path], tmp_path: Path
) -> None:
    c, path = served
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    r = c.post("/v1/triage", json=_item(1))
    assert r.status_code == 200 and r.headers["x-decision-log"] == "failed"
    batch = c.post("/v1/triage/batch", json={"items": [_item(2), {"no": "title"}, _item(3)]})
    assert batch.status_code == 200 and batch.headers["x-decision-log"] == "failed"
    assert [x.get("log") for x in batch.json()["results"]] == ["failed", None, "failed"]
    health = _health(c)
    assert health["status"] == "degraded"
    assert health["decision_log"]["status"] == "unavailable" and "deleted or moved" in health["decision_log"]["reason"]
    assert str(tmp_path) not in str(health)
    assert not path.exists()  # no new empty file made behind the operator's back


def test_a_replaced_sqlite_file_is_not_written_to_unseen(served: tuple[TestClient, Path]) -> None:
    c, path = served
    copy = path.with_name("copy.sqlite3")
    shutil.copyfile(path, copy)
    os.replace(copy, path)  # same name, another file (a restore from backup, a deploy script)
    r = c.post("/v1/triage", json=_item(1))
    assert r.headers["x-decision-log"] == "failed"
    health = _health(c)
    assert health["status"] == "degraded" and "replaced" in health["decision_log"]["reason"]
    assert "restart" in health["decision_log"]["reason"]


def test_a_file_moved_away_and_back_logs_again(served: tuple[TestClient, Path], tmp_path: Path) -> None:
    c, path = served
    shutil.move(path.parent, tmp_path / "away")
    assert c.post("/v1/triage", json=_item(1)).headers["x-decision-log"] == "failed"
    shutil.move(tmp_path / "away", path.parent)
    assert _health(c)["status"] == "ok"
    assert c.post("/v1/triage", json=_item(2)).headers["x-decision-log"] == "recorded"


def test_a_full_disk_is_degraded_health_and_failed_items_while_existing_ones_stand(
    served: tuple[TestClient, Path],
) -> None:
    c, path = served
    log: DecisionLog = c.app.state.runtime.decision_log()  # type: ignore[attr-defined]
    full = True

    # SQLite's own "database or disk is full" (SQLITE_FULL): the file may not grow by a page.
    @event.listens_for(log.engine, "connect")
    def _cap(dbapi_conn: Any, _: Any) -> None:
        if full:
            pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    log.engine.dispose()
    before = log.count()
    items = [_item(0)] + [dict(_item(n), summary="x " * 3000) for n in range(1, 4)]
    batch = c.post("/v1/triage/batch", json={"items": items})
    assert batch.status_code == 200 and batch.headers["x-decision-log"] == "failed"
    # Item 0 was stored before the disk filled up: it stands as "existing"; the others failed.
    assert [x["log"] for x in batch.json()["results"]] == ["existing", "failed", "failed", "failed"]
    assert log.count() == before  # what the answer says is what the database holds
    health = _health(c)
    assert health["status"] == "degraded"
    assert health["decision_log"]["reason"] == "writes are failing (OperationalError: database or disk is full)"

    full = False
    log.engine.dispose()
    assert c.post("/v1/triage", json=_item(9)).headers["x-decision-log"] == "recorded"
    assert _health(c)["status"] == "ok"
