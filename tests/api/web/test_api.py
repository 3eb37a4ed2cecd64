"""The HTTP contract of docs/architecture.md: decision fields, batch, and bad input answered 4xx, never 5xx."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.runtime.settings import Settings
from api.web.app import create_app
from tests.api.conftest import ADMIN

GOOD = {
    "title": "Security requirements for smart irrigation gateways",
    "summary": "Threats to irrigation controllers on farms and the security requirements of the service platform.",
    "keywords": ["agriculture", "gateway"],
}


def test_decision_has_every_contract_field(client: TestClient) -> None:
    r = client.post("/v1/triage", json=GOOD)
    assert r.status_code == 200
    d = r.json()
    assert {
        "home",
        "lead",
        "other_sg",
        "questions",
        "confidence",
        "flags",
        "reasons",
        "related_work",
        "ruleset",
        "decision_id",
    } <= set(d)
    assert d["home"] == "SG20" and d["lead"] == "SG20" and d["questions"][0] == "Q6/20"
    assert all({"rule", "text", "effect", "evidence"} <= set(r) for r in d["reasons"])
    assert any(e["words"].lower().startswith("irrigation") for r in d["reasons"] for e in r["evidence"])
    assert set(d["ruleset"]) == {"version", "revision"}


def test_batch_reports_each_item_in_order(client: TestClient) -> None:
    r = client.post("/v1/triage/batch", json={"items": [GOOD, {"summary": "no title"}, "not an object", GOOD]})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["ok"] for x in results] == [True, False, False, True]
    assert [x["index"] for x in results] == [0, 1, 2, 3]
    assert results[1]["error"][0]["loc"][:4] == ["body", "items", 1, "title"]


BAD = {
    "missing title": {"summary": "x"},
    "title not a string": {"title": ["a"]},
    "unknown field": dict(GOOD, colour="blue"),
    "keywords not a list": dict(GOOD, keywords="a,b"),
    "empty title": {"title": ""},
    "blank title": {"title": "   "},
    "huge title": {"title": "x" * 200_000},
    "10k keywords": dict(GOOD, keywords=["k"] * 10_000),
    "control character": {"title": "bad\u0000title"},
    "bad question": dict(GOOD, questions=["6/17"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_json_bodies_get_422_saying_where(client: TestClient, name: str) -> None:
    r = client.post("/v1/triage", json=BAD[name])
    assert r.status_code in (413, 422), r.text
    detail = r.json()["detail"]
    assert detail and all({"loc", "msg", "type"} <= set(e) for e in detail)
    assert len(r.text) < 5_000  # large inputs are not echoed back


RAW = {
    "invalid json": (b'{"title": ', 422),
    "not json": (b"title=hello", 422),
    "invalid utf-8": (b'{"title": "\xff\xfe"}', 400),
    "deep nesting": (('{"title": "t", "scope": ' + "[" * 5000 + "]" * 5000 + "}").encode(), 400),
    "8 MB body": (json.dumps({"title": "t", "text": "a" * 8_000_000}).encode(), 413),
    "empty body": (b"", 422),
    "json array": (b"[]", 422),
}


@pytest.mark.parametrize("name", list(RAW))
def test_bad_raw_bodies_get_4xx(client: TestClient, name: str) -> None:
    body, status = RAW[name]
    r = client.post("/v1/triage", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["detail"][0]["msg"]


def test_wrong_content_type_and_method(client: TestClient) -> None:
    assert (
        client.post("/v1/triage", content=b"hello", headers={"content-type": "text/plain"}).status_code == 415
    )  # issue 6: JSON endpoints refuse other media types
    assert client.get("/v1/triage").status_code == 405


def test_batch_limits(client: TestClient) -> None:
    r = client.post("/v1/triage/batch", json={"items": [{"title": "x"}] * 1_001})
    assert r.status_code == 413 and "at most 1000" in r.json()["detail"][0]["msg"]
    assert client.post("/v1/triage/batch", json={"items": "no"}).status_code == 422


def test_reload_needs_the_admin_token(client: TestClient) -> None:
    assert client.post("/v1/rules/reload").status_code == 401
    assert (
        client.post("/v1/rules/reload", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 403
    )
    r = client.post("/v1/rules/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200 and r.json()["reloaded"] is True


def test_admin_endpoints_are_off_without_a_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from api.runtime.settings import Settings
    from api.web.app import create_app

    with TestClient(create_app(Settings(data_dir=tmp_path))) as c:
        assert c.post("/v1/rules/reload", headers={"Authorization": "Bearer anything-anything"}).status_code == 404


def test_rules_status_and_health_and_openapi(client: TestClient) -> None:
    status = client.get("/v1/rules").json()
    assert status["revision"] and status["rules"] > 30 and status["last_failure"] is None
    assert client.get("/healthz").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/triage" in spec["paths"] and "/v1/triage/batch" in spec["paths"]


def test_short_tokens_are_refused() -> None:
    from pydantic import ValidationError

    from api.runtime.settings import Settings

    with pytest.raises(ValidationError, match="at least 16"):
        Settings(admin_token="short")  # type: ignore[arg-type]


def test_benchmark_endpoints_exist_only_when_asked(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    proposal = {
        "title": "Security requirements for smart water meters",
        "summary": "Threats to IoT meters of water utilities.",
    }
    with TestClient(create_app(settings)) as plain:
        assert plain.post("/_bench/validate", json=proposal).status_code == 404
        assert plain.post("/_bench/answer", json=proposal).status_code == 404
    monkeypatch.setenv("IOTSEC_BENCH_ENDPOINTS", "1")
    with TestClient(create_app(settings)) as bench:
        assert bench.post("/_bench/validate", json=proposal).json() == {"ok": True}
        assert bench.post("/_bench/validate", json={"title": ""}).status_code == 422
        first = bench.post("/_bench/answer", json=proposal).json()
        again = bench.post("/_bench/answer", json={"title": "Anything at all"}).json()
        assert first == again  # the first decision, answered again: no deciding after it
        decided = bench.post("/v1/triage", json=proposal).json()
        assert {k: first[k] for k in ("home", "questions", "reasons")} == {
            k: decided[k] for k in ("home", "questions", "reasons")
        }
