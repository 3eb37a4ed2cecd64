"""The decision log's database going away and coming back: triage answers throughout (without
logging while it is away), /healthz says so, and logging resumes by itself when it is back.

A kill -9 during a batch (nothing committed lost, nothing duplicated on re-run) is covered by
tests/api/test_decision_log.py::test_a_killed_batch_loses_no_committed_decision_and_reruns_without_duplicates.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from api.decision_log import DecisionLog
from api.runtime.settings import Settings
from api.web.app import create_app
from tests.api.conftest import STAFF

GOOD = {"title": "Security requirements for smart irrigation gateways"}
STAFF_AUTH = {"Authorization": f"Bearer {STAFF}"}


def _proposal(n: int) -> dict[str, str]:
    return dict(GOOD, reference=f"Y.db-fault-{n}")


def test_sqlite_going_away_and_coming_back(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    url = f"sqlite:///{db_dir / 'decisions.sqlite3'}"
    settings = Settings(data_dir=tmp_path / "data", database_url=url, staff_token=STAFF)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/triage", json=_proposal(1))
        assert r.status_code == 200 and r.headers["x-decision-log"] == "recorded"
        assert c.get("/healthz").json()["decision_log"] == {"status": "ok", "writing": True}

        # Away: the directory is moved aside and the open connections dropped, as a restarted
        # database server or an unmounted volume would drop them.
        shutil.move(db_dir, tmp_path / "db-away")
        c.app.state.runtime.decision_log().engine.dispose()  # type: ignore[attr-defined]
        away = c.post("/v1/triage", json=_proposal(2))
        assert away.status_code == 200 and away.json()["home"] == r.json()["home"]
        assert away.headers["x-decision-log"] == "failed"
        batch = c.post("/v1/triage/batch", json={"items": [_proposal(3), _proposal(4)]})
        assert batch.status_code == 200 and all(x["ok"] for x in batch.json()["results"])
        assert batch.headers["x-decision-log"] == "failed"
        health = c.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"  # triage answers, unlogged
        log = health.json()["decision_log"]
        assert log["status"] == "unavailable" and "deleted or moved" in log["reason"]
        assert str(tmp_path) not in health.text

        # Back: no restart, no reload; the next requests log again.
        shutil.move(tmp_path / "db-away", db_dir)
        assert c.get("/healthz").json()["decision_log"]["status"] == "ok"
        assert c.get("/healthz").json()["status"] == "ok"
        back = c.post("/v1/triage", json=_proposal(5))
        assert back.status_code == 200 and back.headers["x-decision-log"] == "recorded"
        listed = c.get("/v1/decisions?limit=50", headers=STAFF_AUTH).json()
        assert sorted(item["reference"] for item in listed["items"]) == ["Y.db-fault-1", "Y.db-fault-5"]

    stored = DecisionLog(url)
    assert stored.count() == 2
    stored.close()


def test_staff_listing_while_the_database_is_away_is_a_503(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{db_dir / 'd.sqlite3'}",  # type: ignore[arg-type]
        staff_token=STAFF,
    )
    with TestClient(create_app(settings)) as c:
        assert c.post("/v1/triage", json=_proposal(1)).headers["x-decision-log"] == "recorded"
        shutil.move(db_dir, tmp_path / "db-away")
        c.app.state.runtime.decision_log().engine.dispose()  # type: ignore[attr-defined]
        assert c.get("/v1/decisions", headers=STAFF_AUTH).status_code == 503


def test_an_unreachable_database_from_the_start_is_reported_by_healthz(tmp_path: Path) -> None:
    url = "postgresql+psycopg://triage:s3cret-password@127.0.0.1:1/decisions"
    settings = Settings(data_dir=tmp_path / "data", database_url=url)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/triage", json=GOOD)
        assert r.status_code == 200 and r.headers["x-decision-log"] == "failed"
        health = c.get("/healthz")
        assert health.status_code == 200
        assert health.json()["decision_log"]["status"] == "unavailable"
        assert "s3cret" not in health.text and "127.0.0.1" not in health.text


def test_healthz_reports_a_log_that_is_switched_off(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", log_decisions=False)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").json()["decision_log"] == {"status": "ok", "writing": False}
