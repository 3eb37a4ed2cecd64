"""Staff review over HTTP: the token, list and CSV, confirm and override, and overrides that stick.
Also the A.1 text intake endpoint."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.decision_log import DecisionLog
from api.runtime.settings import Settings
from api.web.app import create_app
from tests.api._db import db_url  # noqa: F401  (fixture)
from tests.engine.intake.test_a1text import FULL

STAFF = "staff-token-for-review-0123456789"
AUTH = {"Authorization": f"Bearer {STAFF}"}
GATEWAY = {
    "title": "Security requirements for smart irrigation gateways",
    "reference": "Y.sec-irr",
    "summary": "Threats to irrigation controllers on farms and requirements for the service platform.",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    # Loading rules and registry takes a second: one app per module, a fresh log per test.
    settings = Settings(data_dir=tmp_path_factory.mktemp("review"), staff_token=STAFF)  # type: ignore[arg-type]
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI, db_url: str) -> Iterator[TestClient]:
    app.state.runtime.replace_log(DecisionLog(db_url))
    with TestClient(app) as c:
        yield c
    app.state.runtime.replace_log(None)


def test_staff_endpoints_need_the_staff_token(client: TestClient, tmp_path: Path) -> None:
    assert client.get("/v1/decisions").status_code == 401
    assert client.get("/v1/decisions", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 403
    assert client.post("/v1/decisions/x/review", json={"action": "confirm", "reviewer": "A"}).status_code == 401
    with TestClient(create_app(Settings(data_dir=tmp_path / "off"))) as off:
        assert off.get("/v1/decisions", headers=AUTH).status_code == 404


def test_override_sticks_for_the_same_hash_and_the_same_reference(client: TestClient) -> None:
    first = client.post("/v1/triage", json=GATEWAY).json()
    assert first["reviewed"] is False and first["rules_now"] is None
    target = "SG17" if first["home"] != "SG17" else "SG20"
    r = client.post(
        f"/v1/decisions/{first['decision_id']}/review",
        headers=AUTH,
        json={
            "action": "override",
            "home": target,
            "questions": [f"Q6/{target[2:]}"],
            "reason": "agreed at the JCG",
            "reviewer": "Ana Staff",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "overridden" and r.json()["final_home"] == target
    assert r.json()["reviews"][0]["reviewer"] == "Ana Staff"

    again = client.post("/v1/triage", json=GATEWAY).json()  # same hash
    assert again["decision_id"] == first["decision_id"]
    assert (again["home"], again["lead"], again["questions"]) == (target, target, [f"Q6/{target[2:]}"])
    assert again["reviewed"] is True and again["decided_by"] == "review"
    assert "reason" not in again["review"] and "reviewer" not in again["review"]  # staff-only
    assert again["rules_now"]["home"] == first["home"] and again["confidence"] == 1.0
    assert "NEEDS_REVIEW" not in [f["code"] for f in again["flags"]]

    revised = client.post("/v1/triage", json=dict(GATEWAY, summary="A revised summary of the same work item.")).json()
    assert revised["decision_id"] != first["decision_id"]  # a new row, carrying the review over
    assert revised["reviewed"] is True and revised["home"] == target
    assert revised["review"]["inherited_from"] == r.json()["reviews"][0]["review_id"]

    unrelated = client.post("/v1/triage", json=dict(GATEWAY, reference="Y.other")).json()
    assert unrelated["reviewed"] is False and unrelated["home"] == first["home"]
    assert "Ana Staff" not in client.post("/v1/triage", json=GATEWAY).text

    batch = client.post("/v1/triage/batch", json={"items": [GATEWAY]}).json()
    assert batch["results"][0]["decision"]["home"] == target


def test_override_to_joint_carries_the_joint_work_flag(client: TestClient) -> None:
    first = client.post("/v1/triage", json=GATEWAY).json()
    client.post(
        f"/v1/decisions/{first['decision_id']}/review",
        headers=AUTH,
        json={
            "action": "override",
            "home": "joint",
            "lead": "SG20",
            "questions": ["Q6/20", "Q6/17"],
            "reason": "both",
            "reviewer": "B",
        },
    )
    again = client.post("/v1/triage", json=GATEWAY).json()
    assert (again["home"], again["lead"]) == ("joint", "SG20")
    joint = [f for f in again["flags"] if f["code"] == "JOINT_WORK"]
    assert joint and "SG20" in joint[0]["text"]


def test_confirm_keeps_the_rules_answer_and_marks_it_reviewed(client: TestClient) -> None:
    first = client.post("/v1/triage", json=GATEWAY).json()
    r = client.post(
        f"/v1/decisions/{first['decision_id']}/review", headers=AUTH, json={"action": "confirm", "reviewer": "C"}
    )
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    again = client.post("/v1/triage", json=GATEWAY).json()
    assert again["reviewed"] is True and again["home"] == first["home"] and again["review"]["action"] == "confirm"


@pytest.mark.parametrize(
    "body, where",
    [
        ({"action": "override", "home": "SG17", "reviewer": "A"}, "reason"),
        ({"action": "override", "home": "joint", "reason": "r", "reviewer": "A"}, "lead"),
        ({"action": "override", "reason": "r", "reviewer": "A"}, "home"),
        ({"action": "override", "home": "SG17", "lead": "SG20", "reason": "r", "reviewer": "A"}, "lead"),
        ({"action": "confirm", "reviewer": " "}, "reviewer"),
        ({"action": "approve", "reviewer": "A"}, "action"),
        ({"action": "override", "home": "SG17", "questions": ["six"], "reason": "r", "reviewer": "A"}, "Question"),
    ],
)
def test_bad_reviews_are_422_saying_what(client: TestClient, body: dict[str, object], where: str) -> None:
    first = client.post("/v1/triage", json=GATEWAY).json()
    r = client.post(f"/v1/decisions/{first['decision_id']}/review", headers=AUTH, json=body)
    assert r.status_code == 422
    assert where in str(r.json()["detail"])


def test_unknown_decision_is_404(client: TestClient) -> None:
    assert client.get("/v1/decisions/nope", headers=AUTH).status_code == 404
    r = client.post("/v1/decisions/nope/review", headers=AUTH, json={"action": "confirm", "reviewer": "A"})
    assert r.status_code == 404


def test_list_filters_and_csv_export(client: TestClient) -> None:
    a = client.post("/v1/triage", json=GATEWAY).json()
    client.post("/v1/triage", json={"title": "Lightweight mutual authentication protocol for constrained IoT devices"})
    client.post(
        f"/v1/decisions/{a['decision_id']}/review",
        headers=AUTH,
        json={"action": "override", "home": "other", "other_sg": "SG13", "reason": "networks", "reviewer": "D"},
    )
    listed = client.get("/v1/decisions", headers=AUTH).json()
    assert listed["total"] == 2
    assert [d["decision_id"] for d in client.get("/v1/decisions?status=overridden", headers=AUTH).json()["items"]] == [
        a["decision_id"]
    ]
    assert client.get("/v1/decisions?status=open", headers=AUTH).json()["total"] == 1
    assert client.get("/v1/decisions?home=other", headers=AUTH).json()["total"] == 1
    assert client.get("/v1/decisions?text=irrigation", headers=AUTH).json()["total"] == 1
    assert client.get("/v1/decisions?since=2000-01-01&until=2000-12-31", headers=AUTH).json()["total"] == 0
    assert client.get("/v1/decisions?home=mars", headers=AUTH).status_code == 422
    assert client.get("/v1/decisions?since=yesterday", headers=AUTH).status_code == 422
    one = client.get(f"/v1/decisions/{a['decision_id']}", headers=AUTH).json()
    assert one["proposal"]["reference"] == "Y.sec-irr" and one["reviews"][0]["other_sg"] == "SG13"
    r = client.get("/v1/decisions?format=csv&status=overridden", headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1 and rows[0]["decision_id"] == a["decision_id"]
    assert rows[0]["final_home"] == "other" and rows[0]["reviewer"] == "D" and rows[0]["reason"] == "networks"


def test_text_intake_plain_and_json(client: TestClient) -> None:
    r = client.post("/v1/triage/text", content=FULL.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["found"][:3] == ["title", "reference", "questions"] and body["missing"] == []
    assert body["proposal"]["reference"] == "Y.IoT-sec-irr" and body["decision"]["home"] in ("SG17", "SG20", "joint")
    assert r.headers["x-decision-log"] == "recorded"
    j = client.post("/v1/triage/text", json={"text": FULL})
    assert j.status_code == 200 and j.json()["decision"]["decision_id"] == body["decision"]["decision_id"]


@pytest.mark.parametrize(
    "content, ctype, status",
    [
        (b"", "text/plain", 422),
        (b"Question(s): 6/17\n", "text/plain", 422),
        (b"\xff\xfe", "text/plain", 400),
        (b'{"txt": "x"}', "application/json", 422),
        (b"{", "application/json", 400),
        (b"<a/>", "application/xml", 415),
    ],
)
def test_text_intake_bad_bodies_are_4xx(client: TestClient, content: bytes, ctype: str, status: int) -> None:
    r = client.post("/v1/triage/text", content=content, headers={"Content-Type": ctype})
    assert r.status_code == status
    assert r.json()["detail"][0]["msg"]


def test_cli_triage_text_says_what_it_found(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from api.cli import main

    src = tmp_path / "a1.txt"
    src.write_text(FULL)
    result = CliRunner().invoke(main, ["triage", "--text", str(src)])
    assert result.exit_code == 0, result.output
    assert "found title, reference, questions" in result.output and '"home"' in result.output
    src.write_text("Question(s): 6/17\n")
    bad = CliRunner().invoke(main, ["triage", "--text", str(src)])
    assert bad.exit_code == 2 and "no title found" in bad.output


UNRELATED = {
    "title": "Lightweight mutual authentication protocol for constrained devices",
    "reference": GATEWAY["reference"],
    "summary": "An authentication handshake for battery-powered sensors.",
}


def _override(
    client: TestClient, decision_id: str, home: str = "joint", lead: str | None = "SG20"
) -> dict[str, object]:
    r = client.post(
        f"/v1/decisions/{decision_id}/review",
        headers=AUTH,
        json={
            "action": "override",
            "home": home,
            "lead": lead,
            "questions": ["Q6/20"],
            "reason": "internal: JCG call",
            "reviewer": "Ana Staff",
        },
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_review_does_not_stick_to_other_work_under_the_same_reference(client: TestClient) -> None:
    first = client.post("/v1/triage", json=GATEWAY).json()
    _override(client, first["decision_id"])
    other = client.post("/v1/triage", json=UNRELATED)
    assert (
        other.json()["reviewed"] is False and other.json()["review"] is None and other.json()["decided_by"] == "rules"
    )
    assert "Ana Staff" not in other.text and "internal: JCG call" not in other.text
    # The log agrees: the other work stays open, and staff are told a review exists for the reference.
    rec = client.get(f"/v1/decisions/{other.json()['decision_id']}", headers=AUTH).json()
    assert rec["status"] == "open" and rec["reviews"] == []
    assert rec["reference_reviews"] == [first["decision_id"]]
    opened = client.get("/v1/decisions?status=open", headers=AUTH).json()
    assert other.json()["decision_id"] in [d["decision_id"] for d in opened["items"]]


def test_a_review_sticks_to_the_same_work_under_the_same_reference(client: TestClient) -> None:
    first = client.post("/v1/triage", json=GATEWAY).json()
    _override(client, first["decision_id"])
    retitled = dict(
        GATEWAY,
        title="Security requirements for smart irrigation gateways and controllers",
        summary="A second draft of the same work item.",
    )
    again = client.post("/v1/triage", json=retitled).json()
    assert again["reviewed"] is True and (again["home"], again["lead"]) == ("joint", "SG20")
    rec = client.get(f"/v1/decisions/{again['decision_id']}", headers=AUTH).json()
    assert rec["status"] == "overridden" and rec["reference_reviews"] == []


def test_the_log_and_the_answer_agree_for_a_decision_stored_before_the_review(client: TestClient) -> None:
    first = client.post("/v1/triage", json=GATEWAY).json()
    second_body = dict(GATEWAY, summary="Another draft of the same gateway requirements.")
    second = client.post("/v1/triage", json=second_body).json()
    assert second["reviewed"] is False
    _override(client, first["decision_id"])
    again = client.post("/v1/triage", json=second_body).json()
    assert again["decision_id"] == second["decision_id"] and again["reviewed"] is True
    rec = client.get(f"/v1/decisions/{second['decision_id']}", headers=AUTH).json()
    assert rec["status"] == "overridden" and rec["final_home"] == "joint" and len(rec["reviews"]) == 1
    client.post("/v1/triage", json=second_body)  # asked again: the carried review is not carried twice
    assert len(client.get(f"/v1/decisions/{second['decision_id']}", headers=AUTH).json()["reviews"]) == 1


def test_a_reviewed_answer_puts_the_person_first_and_the_rules_as_what_they_said(client: TestClient) -> None:
    first = client.post("/v1/triage", json=GATEWAY).json()
    assert first["home"] != "joint" and first["deciding_rules"]
    _override(client, first["decision_id"])
    again = client.post("/v1/triage", json=GATEWAY).json()
    assert again["decided_by"] == "review" and again["deciding_rules"] == []
    assert [r for r in again["reasons"] if r["outcome"] == "chosen"] == []
    assert (
        again["rules_now"]["deciding_rules"] == first["deciding_rules"] and again["rules_now"]["label"] == first["home"]
    )
    joint = next(f for f in again["flags"] if f["code"] == "JOINT_WORK")
    assert "review" in joint["text"] and "calls for" not in joint["text"]
