"""Security: token rules, no internals in error answers, security headers and CSP, safe YAML, and
logs that carry the decision id but never a token."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

import api.runtime.bootstrap
from api.runtime.settings import MIN_TOKEN_LENGTH, Settings
from api.web.app import create_app
from api.web.observability import JsonFormatter, redact
from engine import RuleLoadError, load_rules
from tests.api.conftest import ADMIN, STAFF

GOOD = {"title": "Security requirements for smart irrigation gateways"}
LEAKS = ("Traceback", "/work/", "site-packages", '.py"', ".py:", 'File "')


def _clean(response: Any) -> None:
    text = response.text
    for leak in LEAKS:
        assert leak not in text, (
            f"{response.request.method} {response.request.url.path} -> {response.status_code} shows {leak!r}"
        )


# -- tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["IOTSEC_ADMIN_TOKEN", "IOTSEC_STAFF_TOKEN"])
def test_tokens_shorter_than_16_characters_are_refused(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "x" * (MIN_TOKEN_LENGTH - 1))
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv(name, "x" * MIN_TOKEN_LENGTH)
    assert Settings(_env_file=None) is not None  # type: ignore[call-arg]


def test_an_unset_token_turns_its_endpoints_off_not_open(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as c:  # type: ignore[arg-type]
        assert c.post("/v1/rules/reload").status_code == 404
        assert c.get("/v1/decisions").status_code == 404
        assert c.post("/v1/rules/reload", headers={"Authorization": "Bearer "}).status_code == 404


def test_wrong_or_missing_tokens_are_refused(client: TestClient) -> None:
    assert client.post("/v1/rules/reload").status_code == 401
    assert client.post("/v1/rules/reload", headers={"Authorization": f"Bearer {STAFF}"}).status_code == 403
    assert client.post("/v1/rules/reload", headers={"Authorization": f"Basic {ADMIN}"}).status_code == 401
    assert (
        client.get("/v1/decisions", headers={"Authorization": "Bearer not-the-staff-token-at-all"}).status_code == 403
    )


# -- no internals in answers ---------------------------------------------------------------------


def test_no_error_answer_shows_a_stack_trace_or_an_internal_path(client: TestClient, rules_copy: Path) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    answers = [
        client.get("/nowhere"),
        client.get("/v1/decisions/not-a-decision", headers=auth),
        client.delete("/v1/triage"),
        client.post("/v1/triage", content=b"{", headers={"content-type": "application/json"}),
        client.post("/v1/triage", content=b'{"title": "\xff"}', headers={"content-type": "application/json"}),
        client.post("/v1/triage", content=b"[" * 20_000, headers={"content-type": "application/json"}),
        client.post("/v1/triage", json={"title": "x", "unknown": 1}),
        client.post("/v1/triage", content=b"title=x", headers={"content-type": "text/plain"}),
        client.post("/v1/triage", content=b"x" * 1_200_000, headers={"content-type": "application/json"}),
        client.post("/v1/triage/batch", json={"items": [{}] * 2000}),
        client.post("/v1/triage/text", content=b"\x00\x01", headers={"content-type": "text/plain"}),
        client.post("/v1/rules/reload"),
        client.get("/v1/landscape?format=pdf"),
        client.get("/v1/work-items?limit=-1"),
        client.get("/static/../app.py"),
        client.get("/static/%2e%2e%2fapp.py"),
        client.post("/v1/decisions/x/review", json={"action": "explode"}, headers=auth),
    ]
    for r in answers:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text[:300])
        _clean(r)


def test_an_unexpected_failure_is_a_plain_500_without_details(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError('boom in File "/work/main/engine/triage.py", line 1')

    monkeypatch.setattr(api.runtime.bootstrap, "triage", broken)
    settings = Settings(data_dir=tmp_path / "data", log_decisions=False)  # type: ignore[arg-type]
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        r = c.post("/v1/triage/batch", json={"items": [GOOD]})
    assert r.status_code == 500
    assert r.json() == {"detail": [{"loc": [], "msg": "internal error", "type": "internal_error"}]}
    _clean(r)


def test_a_failed_reload_names_rule_files_but_no_internals(client: TestClient, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "catalogue.yaml").write_text("schema: iotsec-triage/catalogue@1\nversion: [\n")
    client.app.state.runtime.holder.directory = broken  # type: ignore[attr-defined]
    r = client.post("/v1/rules/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 422 and "catalogue.yaml" in r.text
    _clean(r)


def test_a_database_outage_does_not_show_where_the_database_is(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    url = f"sqlite:///{tmp_path}/a-file/below/x.sqlite3"
    settings = Settings(data_dir=tmp_path / "data", staff_token=STAFF, database_url=url)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        health = c.get("/healthz")
        assert health.json()["decision_log"]["status"] == "unavailable" and str(tmp_path) not in health.text
        r = c.get("/v1/decisions", headers={"Authorization": f"Bearer {STAFF}"})
        assert r.status_code == 503
        assert str(tmp_path) not in r.text


# -- headers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the read-only checks below (building an app takes most of a second)."""
    data = tmp_path_factory.mktemp("security") / "data"
    with TestClient(create_app(Settings(data_dir=data, admin_token=ADMIN, staff_token=STAFF))) as c:  # type: ignore[arg-type]
        yield c


def _csp(response: Any) -> dict[str, str]:
    header = response.headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/login"),
        ("GET", "/queue"),
        ("GET", "/healthz"),
        ("GET", "/v1/rules"),
        ("POST", "/v1/triage"),
        ("GET", "/nowhere"),
        ("GET", "/v1/landscape?format=html"),
        ("GET", "/metrics"),
        ("GET", "/landscape"),
    ],
)
def test_security_headers_on_pages_and_api(shared: TestClient, method: str, path: str) -> None:
    r = shared.request(method, path, json=GOOD if method == "POST" else None, follow_redirects=False)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] in ("no-referrer", "same-origin")
    csp = _csp(r)
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    if path == "/v1/landscape?format=html":  # the standalone report: its one embedded script, by hash
        assert re.fullmatch(r"script-src 'self' 'sha256-[A-Za-z0-9+/]{43}='", csp["script-src"])
    else:
        assert csp["script-src"] == "script-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert "*" not in r.headers["content-security-policy"] and "http" not in r.headers["content-security-policy"]


def test_headers_also_on_answers_refused_before_routing(shared: TestClient) -> None:
    refused = [
        shared.post("/v1/triage", content=b"x" * 1_200_000, headers={"content-type": "application/json"}),
        shared.post("/v1/triage", content=b"x", headers={"content-type": "text/plain"}),
    ]
    assert [r.status_code for r in refused] == [413, 415]
    for r in refused:
        assert r.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in r.headers


@pytest.mark.parametrize("path", ["/", "/login"])
def test_pages_have_no_inline_script_or_event_handler(shared: TestClient, path: str) -> None:
    html = shared.get(path).text
    assert "<form" in html
    for tag in re.findall(r"<script\b[^>]*>", html, re.IGNORECASE):
        assert "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>\s*\S", html, re.IGNORECASE)
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE)
    assert "javascript:" not in html.lower()
    assert not re.search(r"""(src|href)=["']https?://""", html)  # nothing fetched from the internet


# -- YAML ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object:builtins.dict {{}}",
        "!!python/name:os.system",
        "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {marker}']",
        "!custom 'x'",
    ],
)
def test_tagged_yaml_in_a_rule_file_is_refused_and_never_run(rules_copy: Path, tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "was-run"
    (rules_copy / "evil.yaml").write_text(
        f"schema: iotsec-triage/rules@1\nrules:\n  - {payload.format(marker=marker)}\n"
    )
    with pytest.raises(RuleLoadError) as caught:
        load_rules(rules_copy)
    issues = caught.value.issues
    assert [(Path(i.file).name, i.line, i.code) for i in issues] == [("evil.yaml", 3, "tag")]
    assert "tags are not allowed" in issues[0].message
    assert not marker.exists()


def test_a_rule_description_that_looks_like_code_is_only_text(rules_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "was-run"
    code = f"{{{{ ''.__class__.__mro__[1].__subclasses__() }}}} __import__('os').system('touch {marker}')"
    advice = rules_copy / "advice.yaml"
    text = advice.read_text()
    first = re.search(r"description: (\"[^\"]*\"|'[^']*'|[^\n]*)", text)
    assert first is not None
    advice.write_text(text.replace(first.group(0), f"description: {json.dumps(code)}", 1))
    rs = load_rules(rules_copy)
    assert any(r.definition.description == code for r in rs.rules.values())
    rs.close()
    assert not marker.exists()


# -- logs ----------------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[list[str]]:
    """Every line the service logs during the test, formatted as in production."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("iotsec_triage")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_logs_are_json_carry_the_decision_id_and_never_a_token(client: TestClient, json_log: list[str]) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    one = client.post("/v1/triage", json=GOOD, headers=auth).json()
    batch = client.post("/v1/triage/batch", json={"items": [GOOD, {"title": "Smart grid security"}]}).json()
    client.post("/v1/rules/reload", headers=auth)
    client.get(f"/v1/rules?token={ADMIN}", headers={"Authorization": f"Bearer {STAFF}"})
    logging.getLogger("iotsec_triage.test").warning("header was Authorization: Bearer %s", STAFF)
    records = [json.loads(line) for line in json_log]
    assert records and all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    triage_line = next(r for r in records if r.get("route") == "/v1/triage")
    assert triage_line["decision_id"] == one["decision_id"] and triage_line["status"] == 200
    batch_line = next(r for r in records if r.get("route") == "/v1/triage/batch")
    assert batch_line["decision_ids"] == [x["decision"]["decision_id"] for x in batch["results"]]
    everything = "\n".join(json_log)
    assert ADMIN not in everything and STAFF not in everything
    assert "[redacted]" in everything


def test_redaction_of_authorization_values() -> None:
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer [redacted]"
    assert redact('{"authorization": "Basic dXNlcjpwYXNz"}') == '{"authorization": "[redacted]"}'
    assert redact("nothing to hide") == "nothing to hide"


# -- sessions, throttling, exports, paths ----------------------------------------------------------


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def _log_in(c: TestClient, token: str = STAFF) -> Any:
    page = c.get("/login")
    return c.post(
        "/login", data={"csrf": _csrf(page.text), "token": token, "name": "Ana Staff"}, follow_redirects=False
    )


def test_logout_ends_the_session_on_the_server_so_a_copied_cookie_opens_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", staff_token=STAFF)  # type: ignore[arg-type]
    app = create_app(settings)
    with TestClient(app) as c:
        assert _log_in(c).status_code == 303
        captured = c.cookies.get("iotsec_session")
        assert captured and c.get("/queue", follow_redirects=False).status_code == 200
        page = c.get("/queue")
        assert c.post("/logout", data={"csrf": _csrf(page.text)}, follow_redirects=False).status_code == 303
    with TestClient(app) as thief:  # the cookie as it was before the logout, replayed
        thief.cookies.set("iotsec_session", captured)
        r = thief.get("/queue", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    # Another worker (or a restart) reads the same data directory: the session stays ended.
    with TestClient(create_app(settings)) as other:
        other.cookies.set("iotsec_session", captured)
        assert other.get("/queue", follow_redirects=False).status_code == 303
        assert _log_in(other).status_code == 303 and other.get("/queue", follow_redirects=False).status_code == 200


def test_refused_tokens_are_throttled_per_client_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", staff_token=STAFF, admin_token=ADMIN)  # type: ignore[arg-type]
    app = create_app(settings)
    with (
        TestClient(app, client=("192.0.2.10", 5000)) as attacker,
        TestClient(app, client=("192.0.2.20", 5000)) as colleague,
    ):
        statuses = [_log_in(attacker, f"wrong-token-guess-{i:04d}").status_code for i in range(12)]
        assert statuses[:10] == [403] * 10 and statuses[10:] == [429, 429]
        blocked = _log_in(attacker)  # even the right token is not compared while blocked
        assert blocked.status_code == 429 and 1 <= int(blocked.headers["retry-after"]) <= 60
        assert "Too many refused tokens" in blocked.text
        # The API's Bearer tokens count the same refusals.
        api = attacker.get("/v1/decisions", headers={"Authorization": f"Bearer {ADMIN}"})
        assert api.status_code == 429 and api.headers["retry-after"] and api.json()["detail"][0]["type"] == "throttled"
        assert _log_in(colleague).status_code == 303  # another address is not held up


def test_the_throttle_holds_in_all_and_forgets_after_its_window() -> None:
    from api.web.security import Throttle

    now = [1000.0]
    t = Throttle(per_client=3, overall=5, window=60, clock=lambda: now[0])
    for i in range(5):
        assert t.retry_after(f"10.0.0.{i}") is None
        t.failed(f"10.0.0.{i}")
    wait = t.retry_after("10.0.0.99")  # five addresses, one guess each: everyone waits
    assert wait is not None and 59 <= wait <= 60
    now[0] += 61
    assert t.retry_after("10.0.0.99") is None
    small = Throttle(per_client=2, overall=100, max_clients=3, clock=lambda: now[0])
    for i in range(50):
        small.failed(f"10.1.0.{i}")
    assert len(small._clients) == 3  # memory bounded


def test_csv_export_cells_cannot_start_a_formula(client: TestClient) -> None:
    for title in (
        '=HYPERLINK("http://example.invalid","x") smart meter security',
        "+1 IoT gateway security",
        "-2+3 sensor security",
        "@SUM(A1) device security",
    ):
        client.post("/v1/triage", json={"title": title, "reference": title[:20]})
    r = client.get("/v1/decisions?format=csv", headers={"Authorization": f"Bearer {STAFF}"})
    assert r.status_code == 200
    import csv
    import io

    rows = list(csv.reader(io.StringIO(r.text)))
    cells = [cell for row in rows[1:] for cell in row]
    assert cells and not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert any(c.startswith("'=HYPERLINK") for c in cells) and any(c.startswith("'@SUM") for c in cells)


def test_rule_status_after_a_failed_reload_shows_no_server_path(tmp_path: Path, rules_copy: Path) -> None:
    settings = Settings(rules_dir=rules_copy, data_dir=tmp_path / "data", admin_token=ADMIN, log_decisions=False)  # type: ignore[arg-type]
    (rules_copy / "parts").mkdir()
    with TestClient(create_app(settings)) as c:
        (rules_copy / "parts" / "extra.yaml").write_text("schema: iotsec-triage/rules@1\nrules: [\n")
        (rules_copy / "catalogue.yaml").write_text("schema: iotsec-triage/catalogue@1\nversion: [\n")
        r = c.post("/v1/rules/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 422
        status = c.get("/v1/rules")
        for text in (r.text, status.text):
            assert str(tmp_path) not in text and "/tmp" not in text and str(rules_copy) not in text
        files = {e["file"] for e in status.json()["last_failure"]["errors"]}
        assert "catalogue.yaml" in files, files
