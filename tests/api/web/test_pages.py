"""The web pages: the submitter's form and result, staff login, the queue and review in place,
CSRF on every form, cookies and headers, accessible markup."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.web.app import create_app
from api.decision_log import DecisionLog
from api.runtime.settings import Settings
from tests.engine.intake.test_a1text import FULL

STAFF = "staff-token-for-pages-0123456789"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("pages"), staff_token=STAFF))  # type: ignore[arg-type]


@pytest.fixture
def client(app: FastAPI, tmp_path: Path) -> Iterator[TestClient]:
    app.state.runtime.replace_log(DecisionLog(f"sqlite:///{tmp_path / 'pages.sqlite3'}"))
    with TestClient(app) as c:
        yield c
    app.state.runtime.replace_log(None)


def csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


class _Labels(HTMLParser):
    """Every visible form control has a <label for=...>; no inline script or style attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.fors: set[str] = set()
        self.scripts = 0
        self.inline_handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.ids.add(a.get("id") or f"<{tag} name={a.get('name')} without id>")
        if tag == "label" and a.get("for"):
            self.fors.add(a["for"] or "")
        if tag == "script":
            self.scripts += 1
        self.inline_handlers += [k for k in a if k.startswith("on") or k == "style"]


def check_markup(html: str) -> None:
    p = _Labels()
    p.feed(html)
    assert p.ids <= p.fors, f"controls without a label: {sorted(p.ids - p.fors)}"
    assert p.scripts == 0 and p.inline_handlers == []
    assert "<h1>" in html and 'lang="en"' in html


def test_index_page_form_headers_and_cookie(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    check_markup(r.text)
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/../pages.py").status_code == 404


def test_submitter_pastes_a1_text_and_reads_the_result(client: TestClient) -> None:
    page = client.get("/")
    r = client.post("/", data={"csrf": csrf(page.text), "mode": "text", "a1_text": FULL})
    assert r.status_code == 200, r.text
    assert 'id="result-home"' in r.text and "Read from your text: title, reference, questions" in r.text
    assert "Reasons" in r.text and "Related existing work" in r.text and "Confidence" in r.text
    check_markup(r.text)


def test_submitter_fills_fields(client: TestClient) -> None:
    page = client.get("/")
    r = client.post("/", data={"csrf": csrf(page.text), "mode": "fields", "title": "Group key management for IoT multicast",
                               "questions": "Q6/17", "keywords": "key management, multicast"})
    assert r.status_code == 200 and 'id="result-home"' in r.text
    bad = client.post("/", data={"csrf": csrf(page.text), "mode": "fields", "title": "T", "questions": "six"})
    assert bad.status_code == 422 and "could not be read" in bad.text


def test_posts_without_the_csrf_token_are_refused(client: TestClient) -> None:
    client.get("/")
    assert client.post("/", data={"mode": "text", "a1_text": FULL}).status_code == 403
    assert client.post("/", data={"csrf": "forged", "mode": "text", "a1_text": FULL}).status_code == 403
    assert client.post("/login", data={"token": STAFF}).status_code == 403


def _login(client: TestClient, name: str = "Ana Staff") -> None:
    page = client.get("/login")
    r = client.post("/login", data={"csrf": csrf(page.text), "token": STAFF, "name": name}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue"


def test_queue_needs_login_and_reviews_in_place(client: TestClient) -> None:
    gateway = {"title": "Security requirements for smart irrigation gateways", "reference": "Y.sec-irr"}
    first = client.post("/v1/triage", json=gateway).json()
    assert client.get("/queue", follow_redirects=False).headers["location"] == "/login"
    page = client.get("/login")
    refused = client.post("/login", data={"csrf": csrf(page.text), "token": "wrong-token-wrong-token"})
    assert refused.status_code == 403 and "refused" in refused.text
    _login(client)
    queue = client.get("/queue")
    assert queue.status_code == 200 and first["decision_id"] in queue.text and 'value="Ana Staff"' in queue.text
    check_markup(queue.text)
    token = csrf(queue.text)
    forged = client.post(f"/queue/{first['decision_id']}/review", data={"action": "confirm", "reviewer": "X"})
    assert forged.status_code == 403
    r = client.post(f"/queue/{first['decision_id']}/review", follow_redirects=False,
                    data={"csrf": token, "action": "override", "home": "joint", "lead": "SG17", "questions": "Q6/17, Q6/20",
                          "reason": "agreed with Q6/20", "reviewer": "Ana Staff", "back_status": "open"})
    assert r.status_code == 303 and "status=open" in r.headers["location"] and "home=" not in r.headers["location"]
    after = client.get("/queue")
    assert "overridden" in after.text and "agreed with Q6/20" in after.text
    again = client.post("/v1/triage", json=gateway).json()
    assert (again["home"], again["lead"], again["reviewed"]) == ("joint", "SG17", True)
    invalid = client.post(f"/queue/{first['decision_id']}/review", data={"csrf": token, "action": "override", "home": "joint",
                                                                           "reason": "r", "reviewer": "A"})
    assert invalid.status_code == 422 and "lead" in invalid.text


def test_queue_filters_and_priority_order(client: TestClient) -> None:
    client.post("/v1/triage", json={"title": "Lightweight mutual authentication protocol for constrained IoT devices"})
    client.post("/v1/triage", json={"title": "Security requirements for smart irrigation gateways"})
    _login(client)
    all_ = client.get("/queue").text
    assert all_.count('<tr id="d-') == 2
    assert client.get("/queue?text=irrigation").text.count('<tr id="d-') == 1
    assert client.get("/queue?since=not-a-date").status_code == 200  # said on the page, not a crash


def test_logout_ends_the_staff_session(client: TestClient) -> None:
    _login(client)
    page = client.get("/queue")
    r = client.post("/logout", data={"csrf": csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_staff_pages_off_without_a_token(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path))) as c:
        assert c.get("/queue").status_code == 404 and "Staff pages are off" in c.get("/queue").text
        assert 'href="/queue"' not in c.get("/").text
