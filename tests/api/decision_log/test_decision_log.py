"""The decision log on SQLite and PostgreSQL: what a row holds, idempotency, migrations, failures,
the batch command, and a batch killed mid-way that loses nothing committed and re-runs cleanly."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from api.web.app import create_app
from api.cli import main
from api.decision_log import DecisionFilter, DecisionLog, canonical_json, decide, proposal_hash
from api.decision_log.database import alembic_config
from api.decision_log.models import DecisionRow
from api.runtime.settings import Settings
from engine import Proposal, RuleSet
from tests.api._db import db_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[3]
IRRIGATION = Proposal(title="Security requirements for smart irrigation gateways", reference="Y.sec-irr",
                      summary="Threats to irrigation controllers on farms.")


def test_a_row_holds_id_input_hash_result_revision_time_actor_reference(db_url: str, ruleset: RuleSet) -> None:
    log = DecisionLog(db_url)
    decision, note = decide(log, IRRIGATION, ruleset, None, "tester")
    assert note == "recorded"
    rec = log.get(decision.decision_id)
    assert rec is not None
    assert rec.proposal == IRRIGATION.model_dump(mode="json")
    assert rec.proposal_hash == hashlib.sha256(canonical_json(IRRIGATION).encode()).hexdigest() == proposal_hash(IRRIGATION)
    assert rec.result["home"] == decision.home and rec.result["decision_id"] == decision.decision_id
    assert rec.rule_revision == ruleset.revision and rec.rule_version == ruleset.version
    assert rec.actor == "tester" and rec.reference == "Y.sec-irr" and rec.status == "open"
    assert rec.created_at.tzinfo is not None
    log.close()


def test_the_hash_ignores_how_a_proposal_was_spelled() -> None:
    a = Proposal.model_validate({"title": "  T  ", "keywords": []})
    b = Proposal.model_validate({"keywords": [], "title": "T", "summary": ""})
    assert proposal_hash(a) == proposal_hash(b)
    assert proposal_hash(a) != proposal_hash(Proposal(title="T", reference="X.y"))


def test_same_proposal_same_rules_is_one_row(db_url: str, ruleset: RuleSet) -> None:
    log = DecisionLog(db_url)
    first, n1 = decide(log, IRRIGATION, ruleset, None, "api")
    again, n2 = decide(log, IRRIGATION, ruleset, None, "batch")
    assert (n1, n2) == ("recorded", "existing")
    assert again.decision_id == first.decision_id
    assert log.count() == 1
    log.close()


def test_migrations_reach_head_and_are_repeatable(db_url: str) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    log = DecisionLog(db_url)
    log.ensure_ready()
    log._ready = False  # run upgrade head a second time: nothing to do, no error
    log.ensure_ready()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with log.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
    log.close()


def test_migration_0002_keeps_the_rows_of_a_0001_database(db_url: str, ruleset: RuleSet) -> None:
    # A log written before decisions had an item_id: upgraded at start-up, its rows stay as they were.
    from alembic import command
    from sqlalchemy import MetaData, Table

    from api.decision_log.database import make_engine

    engine = make_engine(db_url)
    old = {"decision_id": "d" * 32, "reference": "X.old", "proposal_hash": "a" * 64, "title": "Logged before 0002",
           "proposal": {"title": "Logged before 0002"}, "result": {"home": "SG17", "questions": []}, "home": "SG17",
           "lead": "SG17", "confidence": 0.9, "flag_codes": ",", "rule_revision": "r1", "rule_version": "1",
           "actor": "api", "status": "open", "final_home": "SG17"}
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        table = Table("decisions", MetaData(), autoload_with=conn)
        assert "item_id" not in table.c
        conn.execute(table.insert().values(created_at=datetime.now(timezone.utc), **old))
    engine.dispose()
    log = DecisionLog(db_url)
    log.ensure_ready()  # upgrade head, as every door does at start
    rec = log.get(old["decision_id"])
    assert rec is not None and rec.item_id is None and rec.title == old["title"] and rec.proposal == old["proposal"]
    decision, note = decide(log, IRRIGATION, ruleset, None, "api", item_id="C-7")
    assert note == "recorded" and log.count() == 2 and log.get(decision.decision_id).item_id == "C-7"  # type: ignore[union-attr]
    with log.engine.begin() as conn:  # and back down: the rows stay, the column goes
        cfg = alembic_config(log.engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
        table = Table("decisions", MetaData(), autoload_with=conn)
        assert "item_id" not in table.c and conn.execute(select(func.count()).select_from(table)).scalar_one() == 2
    log.close()


def test_the_item_id_is_stored_found_by_text_and_the_first_one_stays(db_url: str, ruleset: RuleSet) -> None:
    log = DecisionLog(db_url)
    first, _ = decide(log, IRRIGATION, ruleset, None, "batch", item_id="C-0042")
    again, note = decide(log, IRRIGATION, ruleset, None, "batch", item_id="C-0099")  # the same text sent as another item
    plain, _ = decide(log, Proposal(title="Trust in smart-city sensor data"), ruleset, None, "api")
    assert note == "existing" and again.decision_id == first.decision_id
    assert log.get(first.decision_id).item_id == "C-0042"  # type: ignore[union-attr]
    assert log.get(plain.decision_id).item_id is None  # type: ignore[union-attr]
    assert [r.decision_id for r in log.list(DecisionFilter(text="c-0042")).items] == [first.decision_id]
    assert log.list(DecisionFilter(text="C-0099")).total == 0
    later, _ = decide(log, Proposal(title="Trust in smart-city sensor data"), ruleset, None, "batch", item_id="C-5")
    assert later.decision_id == plain.decision_id and log.get(plain.decision_id).item_id == "C-5"  # type: ignore[union-attr]
    log.close()


def test_a_write_that_fails_leaves_nothing_behind(db_url: str, ruleset: RuleSet) -> None:
    log = DecisionLog(db_url)
    decide(log, IRRIGATION, ruleset, None, "api")
    other = Proposal(title="Another item", reference="X.other")
    clash = decide(log, other, ruleset, None, "api")[0]
    # A second proposal that reuses an existing decision id must fail as a whole.
    from api.decision_log.service import DecisionLog as _DL
    with pytest.raises(Exception):
        with log._session() as s, s.begin():
            s.add(_DL._new_row(Proposal(title="Third"), "f" * 64, clash, "api"))
    assert log.count() == 2
    log.close()


def test_list_filters_by_flag_home_text_and_date(db_url: str, ruleset: RuleSet) -> None:
    log = DecisionLog(db_url)
    joint = Proposal(title="Security of roadside units for cooperative intelligent transport in smart cities",
                     summary="Authentication and key management for roadside units that smart city platforms operate.")
    for p in (IRRIGATION, joint, Proposal(title="Lightweight mutual authentication protocol for constrained IoT devices")):
        decide(log, p, ruleset, None, "api")
    everything = log.list(DecisionFilter())
    assert everything.total == 3
    homes = {r.final_home for r in everything.items}
    for home in homes:
        assert all(r.final_home == home for r in log.list(DecisionFilter(home=home)).items)
    assert [r.title for r in log.list(DecisionFilter(text="IRRIGATION")).items] == [IRRIGATION.title]
    assert log.list(DecisionFilter(text="sec-irr")).total == 1
    today = everything.items[0].created_at.date()
    assert log.list(DecisionFilter(since=today, until=today)).total == 3
    assert log.list(DecisionFilter(until=today.replace(year=today.year - 1))).total == 0
    flagged = [r for r in everything.items if r.flags]
    for rec in flagged:
        assert rec.decision_id in {r.decision_id for r in log.list(DecisionFilter(flag=rec.flags[0])).items}
    assert log.list(DecisionFilter(flag="NO_SUCH_FLAG")).total == 0
    prio = log.list(DecisionFilter(sort="priority")).items
    rank = [0 if {"JOINT_WORK", "OVERLAP_EXISTING_WORK"} & set(r.flags) else 1 for r in prio]
    assert rank == sorted(rank)
    log.close()


# -- the service: logging on /v1/triage, and never a 500 when the log is down -------------------

def _client(tmp_path: Path, **kw: object) -> TestClient:
    return TestClient(create_app(Settings(data_dir=tmp_path / "data", **kw)))  # type: ignore[arg-type]


def test_triage_and_batch_log_with_actor_api(db_url: str, tmp_path: Path) -> None:
    with _client(tmp_path, database_url=db_url) as c:
        r = c.post("/v1/triage", json=IRRIGATION.model_dump())
        assert r.status_code == 200 and r.headers["x-decision-log"] == "recorded"
        b = c.post("/v1/triage/batch", json={"items": [IRRIGATION.model_dump(), {"title": "Other"}, {"nope": 1}]})
        assert b.status_code == 200
        results = b.json()["results"]
        assert results[0]["decision"]["decision_id"] == r.json()["decision_id"]
        assert [x["ok"] for x in results] == [True, True, False]
    log = DecisionLog(db_url)
    assert log.count() == 2 and {x.actor for x in log.list(DecisionFilter()).items} == {"api"}
    log.close()


def test_logging_can_be_switched_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'off.sqlite3'}"
    with _client(tmp_path, database_url=url, log_decisions=False) as c:
        r = c.post("/v1/triage", json=IRRIGATION.model_dump())
        assert r.status_code == 200 and r.headers["x-decision-log"] == "off"
    log = DecisionLog(url)
    assert log.count() == 0
    log.close()


@pytest.mark.parametrize("url", ["postgresql+psycopg://nobody:pw@127.0.0.1:1/none", "sqlite:///{tmp}/a-file/below/a-file.sqlite3"])
def test_a_database_that_is_down_never_stops_triage(tmp_path: Path, url: str) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    with _client(tmp_path, database_url=url.format(tmp=tmp_path), staff_token="staff-token-for-tests-0123456789") as c:
        r = c.post("/v1/triage", json=IRRIGATION.model_dump())
        assert r.status_code == 200 and r.json()["home"] in ("SG17", "SG20", "joint")
        assert r.headers["x-decision-log"] == "failed"
        b = c.post("/v1/triage/batch", json={"items": [IRRIGATION.model_dump()]})
        assert b.status_code == 200 and b.headers["x-decision-log"] == "failed"
        staff = c.get("/v1/decisions", headers={"Authorization": "Bearer staff-token-for-tests-0123456789"})
        assert staff.status_code == 503 and "decision log unavailable" in staff.json()["detail"][0]["msg"]


# -- the batch command ---------------------------------------------------------------------------

def _golden_jsonl(path: Path) -> int:
    from engine.maintainer.goldens import load_fixtures

    fixtures, issues = load_fixtures(ROOT / "fixtures" / "proposals" / "golden.yaml")
    assert not issues
    path.write_text("".join(json.dumps(f.proposal.model_dump(mode="json")) + "\n" for f in fixtures))
    return len(fixtures)


def test_batch_reports_each_item_goes_past_bad_ones_and_is_idempotent(db_url: str, tmp_path: Path) -> None:
    src = tmp_path / "items.jsonl"
    n = _golden_jsonl(src)
    with src.open("a") as f:
        f.write('{"title": ""}\nnot json\n{"proposal": {"title": "Wrapped like an evaluation record"}}\n')
    runner = CliRunner()
    first = runner.invoke(main, ["batch", str(src), "--database-url", db_url])
    assert first.exit_code == 2, first.output  # bad items make it exit 2, after doing the rest
    assert f"items {n + 3}: decided {n + 1} (new {n + 1}, already logged 0" in first.output
    assert "bad 2" in first.output and "by home: " in first.output and "by flag: " in first.output
    assert f"items.jsonl:{n + 2}: error: invalid JSON" in first.output
    assert sum(1 for line in first.output.splitlines() if "\trecorded\t" in line) == n + 1
    again = runner.invoke(main, ["batch", str(src), "--database-url", db_url])
    assert f"new 0, already logged {n + 1}" in again.output
    log = DecisionLog(db_url)
    assert log.count() == n + 1
    log.close()


def test_batch_reads_csv_with_list_columns(tmp_path: Path) -> None:
    src = tmp_path / "items.csv"
    src.write_text("title,reference,questions,keywords\n"
                   "Group key management for IoT multicast,X.gkm,Q6/17,key management;multicast\n"
                   ",X.empty,,\n")
    url = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    result = CliRunner().invoke(main, ["batch", str(src), "--database-url", url])
    assert result.exit_code == 2
    assert "items 2: decided 1" in result.output and "items.csv:3: error: title" in result.output
    log = DecisionLog(url)
    [rec] = log.list(DecisionFilter()).items
    assert rec.proposal["keywords"] == ["key management", "multicast"] and rec.actor == "batch"
    log.close()


def test_batch_stores_the_id_column_with_each_decision(tmp_path: Path) -> None:
    src = tmp_path / "items.csv"
    src.write_text("Contribution number,title\nC-0042,Group key management for IoT multicast\n,Security of smart meters\n")
    url = f"sqlite:///{tmp_path / 'ids.sqlite3'}"
    result = CliRunner().invoke(main, ["batch", str(src), "--database-url", url])
    assert result.exit_code == 0, result.output
    log = DecisionLog(url)
    assert sorted((r.item_id or "", r.title) for r in log.list(DecisionFilter()).items) == [
        ("", "Security of smart meters"), ("C-0042", "Group key management for IoT multicast")]
    log.close()


def test_the_batch_api_takes_items_with_their_own_id(db_url: str, tmp_path: Path) -> None:
    items = [{"id": "C-12", "proposal": IRRIGATION.model_dump()}, {"title": "A plain proposal"}, {"id": 13, "proposal": {"title": "Numbered"}},
             {"id": "x" * 101, "proposal": {"title": "Too long an id"}}, {"id": "C-14", "proposal": {"titel": "typo"}}]
    with _client(tmp_path, database_url=db_url) as c:
        results = c.post("/v1/triage/batch", json={"items": items}).json()["results"]
    assert [(r["ok"], r["id"]) for r in results] == [(True, "C-12"), (True, None), (True, "13"), (False, None), (False, None)]
    assert results[3]["error"][0]["loc"] == ["body", "items", 3, "id"]
    assert {tuple(e["loc"]) for e in results[4]["error"]} >= {("body", "items", 4, "proposal", "titel")}
    log = DecisionLog(db_url)
    assert {r.title: r.item_id for r in log.list(DecisionFilter()).items} == {IRRIGATION.title: "C-12", "A plain proposal": None,
                                                                               "Numbered": "13"}
    log.close()


def test_batch_notes_and_ignores_unknown_csv_columns(tmp_path: Path) -> None:
    # A spreadsheet's own columns (notes, owners) must not stop a batch; they are named and ignored.
    src = tmp_path / "items.csv"
    src.write_text("title,colour\nSecurity of smart meters,red\n")
    result = CliRunner().invoke(main, ["batch", str(src), "--database-url", f"sqlite:///{tmp_path / 'c.sqlite3'}"])
    assert result.exit_code == 0, result.output
    assert "unknown column(s) colour ignored" in result.output and "items 1: decided 1" in result.output


def _count(url: str) -> int:
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return 0
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            if not conn.dialect.has_table(conn, "decisions"):
                return 0
            return conn.execute(select(func.count()).select_from(DecisionRow)).scalar_one()
    finally:
        engine.dispose()


def test_a_killed_batch_loses_no_committed_decision_and_reruns_without_duplicates(db_url: str, tmp_path: Path) -> None:
    total = 800
    src = tmp_path / "big.jsonl"
    topics = ["smart irrigation gateways", "roadside units", "constrained device authentication", "smart meters",
              "wearable health monitors", "home network cameras"]
    src.write_text("".join(json.dumps({"title": f"Security requirements for {topics[i % len(topics)]}, part {i}",
                                       "reference": f"X.kill-{i}"}) + "\n" for i in range(total)))
    env = dict(os.environ, IOTSEC_DATA_DIR=str(tmp_path / "data"))
    cmd = [sys.executable, "-m", "api.cli", "batch", str(src), "--database-url", db_url, "--no-registry"]
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        seen = 0
        for _ in range(6000):  # bounded: at most ~60 s of polling
            if proc.poll() is not None:
                break
            seen = _count(db_url)
            if seen >= 50:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the batch ended before it could be killed: {errors.read_text()[-500:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    committed = _count(db_url)
    assert 50 <= committed < total
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(DecisionRow.decision_id, DecisionRow.proposal, DecisionRow.proposal_hash,
                                   DecisionRow.result, DecisionRow.reference)).all()
    for decision_id, proposal, digest, result, reference in rows:
        # Every committed row is whole: its input hashes to its hash, its result is its own.
        assert proposal_hash(Proposal.model_validate(proposal)) == digest
        assert result["decision_id"] == decision_id and reference == proposal["reference"]
    before = {r[0] for r in rows}
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"already logged {committed}" in rerun.stdout
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DecisionRow)).scalar_one() == total
        dupes = conn.execute(text("SELECT reference, COUNT(*) FROM decisions GROUP BY reference HAVING COUNT(*) > 1")).all()
        after = set(conn.execute(select(DecisionRow.decision_id)).scalars())
    engine.dispose()
    assert dupes == [] and before <= after
