"""The web pages: the submitter's form and result, staff login, the queue and review in place,
CSRF on every form, cookies and headers, accessible markup."""
from __future__ import annotations

import csv
import io
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
    assert "Related existing work" in r.text and "Confidence" in r.text
    # "Why" first: the deciding rule's own words and the proposal's words that triggered it, then the rest.
    text = r.text
    assert text.index('id="why-heading"') < text.index('id="result-details"') and "<mark>" in text
    assert '<details class="more"' in text and 'id="values-read"' in text and "Every rule that fired" in text
    assert "None" not in re.sub(r"<[^>]+>", " ", text)  # no Python None printed anywhere
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
    assert first["decision_id"] not in client.get("/queue").text  # the default filter is "open"
    after = client.get("/queue?status=any")
    assert "overridden" in after.text and "joint:SG17" in after.text
    detail = client.get(f"/queue/{first['decision_id']}")
    assert "agreed with Q6/20" in detail.text and "Ana Staff" in detail.text and 'id="history"' in detail.text
    check_markup(detail.text)
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


def _decision_id(html: str) -> str:
    m = re.search(r'href="/decisions/([0-9a-f]+)"', html)
    assert m, "no stable link to the decision"
    return m.group(1)


def test_the_answer_says_where_it_differs_from_what_was_proposed(client: TestClient) -> None:
    page = client.get("/")
    r = client.post("/", data={"csrf": csrf(page.text), "mode": "fields", "reference": "X.farm-sec", "questions": "Q6/17",
                               "title": "Smart farming service platform requirements for IoT sensors in irrigation",
                               "summary": "Requirements and functional architecture of an IoT platform for irrigation."})
    assert r.status_code == 200 and 'id="result-home"' in r.text
    assert 'id="result-differs"' in r.text and "Not what you proposed" in r.text
    assert "series letter of SG17" in r.text or "You proposed Q6/17" in r.text


def test_an_undetermined_answer_says_what_is_missing_and_what_came_closest(client: TestClient) -> None:
    page = client.get("/")
    r = client.post("/", data={"csrf": csrf(page.text), "mode": "fields", "title": "Recipes for sourdough bread"})  # nothing in the registry is near it
    assert r.status_code == 200
    assert 'id="result-undetermined"' in r.text and "would help: Summary, Scope, Keywords" in r.text


def test_the_stable_link_shows_what_was_sent_and_nothing_staff_only(client: TestClient) -> None:
    page = client.get("/")
    r = client.post("/", data={"csrf": csrf(page.text), "mode": "text", "a1_text": FULL})
    decision_id = _decision_id(r.text)
    _login(client)
    client.post(f"/queue/{decision_id}/review", data={"csrf": csrf(client.get("/queue").text), "action": "override",
                                                       "home": "joint", "lead": "SG20", "reason": "secret staff reasoning",
                                                       "reviewer": "Ana Staff"})
    with TestClient(client.app) as anonymous:
        shown = anonymous.get(f"/decisions/{decision_id}")
    assert shown.status_code == 200 and 'id="sent"' in shown.text
    assert "joint:SG20" in shown.text and 'id="decided-by"' in shown.text and 'id="rules-said"' in shown.text
    assert "secret staff reasoning" not in shown.text and "Ana Staff" not in shown.text
    assert shown.text.index('id="decided-by"') < shown.text.index('id="rules-said"')  # the person first
    check_markup(shown.text)
    assert client.get("/decisions/nope").status_code == 404


def _many(client: TestClient, n: int) -> None:
    topics = ["smart irrigation gateways", "PKI for constrained devices", "smart parking sensors", "home network firewalls",
              "vehicle-to-everything messages", "smart meters", "e-health wearables", "digital twins of buildings"]
    items = [{"title": f"Security requirements for {topics[i % len(topics)]}, part {i}", "reference": f"Y.ref-{i % 7}"}
             for i in range(n)]
    for start in range(0, n, 200):
        assert client.post("/v1/triage/batch", json={"items": items[start:start + 200]}).status_code == 200


def test_queue_is_paginated_open_by_default_ordered_by_need_and_grouped(client: TestClient) -> None:
    _many(client, 120)
    _login(client)
    first = client.get("/queue")
    assert first.status_code == 200 and first.text.count('<tr id="d-') == 50
    assert "120 decisions, 1-50 shown" in first.text and 'id="next-page"' in first.text
    assert '<option value="open" selected>' in first.text
    third = client.get("/queue?page=3")
    assert third.text.count('<tr id="d-') == 20
    pages = first.text + client.get("/queue?page=2").text + third.text
    # Each group (rows of one reference) stands where its most needed row stands: NEEDS_REVIEW,
    # JOINT_WORK, low confidence, COORDINATE, then the rest.
    heads = [int(m) for m in re.findall(r'<tbody[^>]*>\s*(?:<tr class="group-head">.*?</tr>\s*)?<tr id="d-[0-9a-f]+" class="need-(\d)', pages, re.S)]
    assert len(heads) > 3 and heads == sorted(heads)
    assert len(set(heads)) > 1  # the items differ in need: the order was tested
    for group in re.findall(r'<tbody class="group">(.*?)</tbody>', first.text, re.S):
        refs = set(re.findall(r'class="hint">(Y\.ref-\d)', group))
        assert len(refs) == 1  # rows with the same reference together
    assert 'class="group-head"' in first.text
    check_markup(first.text)


def test_detail_page_bulk_confirm_and_csv_export_with_the_staff_session(client: TestClient) -> None:
    evil = {"title": "=HYPERLINK(\"http://example.invalid\",\"x\") smart meter security", "reference": "@X.evil"}
    a = client.post("/v1/triage", json=evil).json()
    b = client.post("/v1/triage", json={"title": "Security requirements for smart irrigation gateways"}).json()
    _login(client)
    detail = client.get(f"/queue/{a['decision_id']}")
    assert detail.status_code == 200 and 'id="sent"' in detail.text and 'id="detail-deciding"' in detail.text
    assert 'id="detail-considered"' in detail.text and 'id="review-form"' in detail.text
    check_markup(detail.text)
    queue = client.get("/queue")
    r = client.post("/queue/confirm", data={"csrf": csrf(queue.text), "ids": [a["decision_id"], b["decision_id"]],
                                            "reviewer": "Ana Staff", "back_status": "open"}, follow_redirects=False)
    assert r.status_code == 303 and "2+confirmed" in r.headers["location"]
    assert client.get("/queue").text.count('<tr id="d-') == 0
    export = client.get("/queue/export.csv?status=confirmed")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"confirmed"}
    evil_row = next(r for r in rows if r["decision_id"] == a["decision_id"])
    assert evil_row["title"].startswith("'=HYPERLINK") and evil_row["reference"] == "'@X.evil"
    with TestClient(client.app) as anonymous:
        assert anonymous.get("/queue/export.csv", follow_redirects=False).status_code == 303


def _row_id(html: str) -> str:
    found = re.search(r'<tr id="d-([0-9a-f]+)"', html)
    assert found, "no decision row in the queue"
    return found.group(1)


def test_upload_a_docx_contribution_and_a_spreadsheet(client: TestClient) -> None:
    from tests.engine.intake.test_files import a1_docx, items_xlsx

    page = client.get("/")
    r = client.post("/upload", data={"csrf": csrf(page.text)}, files={"file": ("C-123.docx", a1_docx(), "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert 'id="result-home"' in r.text and "C-123.docx" in r.text and "Read from your text: title, reference, questions" in r.text
    r = client.post("/upload", data={"csrf": csrf(page.text)}, files={"file": ("items.xlsx", items_xlsx(), "application/octet-stream")})
    assert r.status_code == 200 and 'id="upload-results"' in r.text and "C-0042" in r.text
    bad = client.post("/upload", data={"csrf": csrf(page.text)}, files={"file": ("broken.docx", b"not a zip", "application/octet-stream")})
    assert bad.status_code == 422 and "broken.docx" in bad.text and "not a readable .docx" in bad.text
    # Staff find the spreadsheet's items by their own ids, shown in the queue and on the detail page.
    _login(client)
    queue = client.get("/queue", params={"text": "C-0042"})
    assert queue.text.count('<tr id="d-') == 1 and '<span class="item-id">item C-0042</span>' in queue.text
    detail = client.get(f"/queue/{_row_id(queue.text)}")
    assert '<code id="detail-item-id">C-0042</code>' in detail.text
    check_markup(queue.text)
    check_markup(detail.text)
