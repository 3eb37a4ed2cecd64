"""Hostile input: each kind gets a clear 4xx (or a located rule-load error) without being processed,
and a few hundred hostile requests leave the process's memory bounded."""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import api.runtime.bootstrap
from api.runtime.settings import Settings
from api.web.app import create_app
from api.web.limits import MAX_JSON_DEPTH, TOO_DEEP_MSG
from engine import RuleLoadError, load_rules
from tests.api.conftest import ADMIN, STAFF

JSON = {"content-type": "application/json"}
GOOD = {"title": "Security requirements for smart irrigation gateways"}


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app with the decision log off: hostile input must never need the database."""
    data = tmp_path_factory.mktemp("hostile") / "data"
    settings = Settings(data_dir=data, admin_token=ADMIN, log_decisions=False)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        yield c


def _detail(response: Any) -> dict[str, Any]:
    body = response.json()
    assert isinstance(body["detail"], list) and body["detail"], body
    first: dict[str, Any] = body["detail"][0]
    assert first["msg"] and first["type"]
    return first


# -- request bodies ------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_from_its_declared_length(quiet: TestClient) -> None:
    body = b'{"title": "' + b"a" * 1_100_000 + b'"}'
    r = quiet.post("/v1/triage", content=body, headers=JSON)
    assert r.status_code == 413
    assert _detail(r)["type"] == "body_too_large" and "1000000-byte limit" in _detail(r)["msg"]


def test_a_streamed_body_over_the_limit_is_refused_while_it_arrives(quiet: TestClient) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"title": "'
        for _ in range(50):  # 5 MB offered, no Content-Length
            sent += 1
            yield b"a" * 100_000
        yield b'"}'

    r = quiet.post("/v1/triage", content=chunks(), headers=JSON)
    assert r.status_code == 413 and _detail(r)["type"] == "body_too_large"


@pytest.mark.parametrize("path", ["/v1/triage", "/v1/triage/batch"])
def test_deeply_nested_json_is_a_400_that_says_so(quiet: TestClient, path: str) -> None:
    body = b'{"items": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    r = quiet.post(path, content=body, headers=JSON)
    assert r.status_code == 400
    assert _detail(r) == {"loc": ["body"], "msg": TOO_DEEP_MSG, "type": "too_deep"}
    assert "more than 64 levels" in TOO_DEEP_MSG


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", None])
def test_the_nesting_limit_is_the_services_own_not_the_pythons(quiet: TestClient, content_type: str | None) -> None:
    # MAX_JSON_DEPTH levels are read and validated (the proposal's scope is a string: 422); one more is
    # a 400 before parsing, on every Python version (3.13's parser alone would take thousands).
    def body(depth: int) -> bytes:  # the object is the first level
        return ('{"title": "t", "scope": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}").encode()

    headers = {"content-type": content_type} if content_type else {}
    at_limit = quiet.post("/v1/decisions/x/review", content=body(MAX_JSON_DEPTH), headers=headers)
    assert at_limit.status_code != 400, at_limit.text
    if content_type:
        assert quiet.post("/v1/triage", content=body(MAX_JSON_DEPTH), headers=headers).status_code == 422
    for depth in (MAX_JSON_DEPTH + 1, 5_000):
        r = quiet.post("/v1/decisions/x/review", content=body(depth), headers=headers)
        assert r.status_code == 400 and _detail(r)["type"] == "too_deep", r.text
    # brackets inside strings are text, not nesting
    text = '{"title": "t", "scope": "' + '[{\\"' * 2_000 + '"}'
    assert quiet.post("/v1/triage", content=text.encode(), headers=JSON).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("title", "a" * 900_000, "300 characters"),
        ("text", "security " * 100_000, "100000 characters"),
        ("summary", "x" * 500_000, "characters"),
    ],
)
def test_huge_strings_are_refused_naming_the_field_without_echoing_them(
    quiet: TestClient, field: str, value: str, limit: str
) -> None:
    r = quiet.post("/v1/triage", json={**GOOD, field: value})
    assert r.status_code == 422
    d = _detail(r)
    assert d["loc"] == ["body", field] and limit in d["msg"]
    assert len(r.content) < 2_000  # the input is cut to a few words, not sent back whole


@pytest.mark.parametrize("field", ["keywords", "questions", "relations", "liaisons"])
def test_huge_lists_are_refused_naming_the_field(quiet: TestClient, field: str) -> None:
    r = quiet.post("/v1/triage", json={**GOOD, field: ["Q1/17"] * 100_000})
    assert r.status_code == 422
    d = _detail(r)
    assert d["loc"] == ["body", field] and d["type"] == "too_long"
    assert len(r.content) < 2_000


@pytest.mark.parametrize("path", ["/v1/triage", "/v1/triage/batch"])
def test_invalid_utf8_is_a_400_with_the_byte_offset(quiet: TestClient, path: str) -> None:
    r = quiet.post(path, content=b'{"title": "caf\xe9 \xff\xfe"}', headers=JSON)
    assert r.status_code == 400
    d = _detail(r)
    assert d["type"] == "invalid_encoding" and "not valid UTF-8 (byte 14)" in d["msg"]


@pytest.mark.parametrize(
    "ctype",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x", None],
)
@pytest.mark.parametrize("path", ["/v1/triage", "/v1/triage/batch"])
def test_wrong_content_types_are_415(quiet: TestClient, path: str, ctype: str | None) -> None:
    headers = {"content-type": ctype} if ctype else {}
    r = quiet.post(path, content=json.dumps(GOOD).encode(), headers=headers)
    assert r.status_code == 415
    d = _detail(r)
    assert d["loc"] == ["header", "content-type"] and "application/json" in d["msg"]


def test_json_with_a_charset_is_still_json(quiet: TestClient) -> None:
    r = quiet.post(
        "/v1/triage", content=json.dumps(GOOD).encode(), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("title", "Smart meter\x00 security", "U+0000"),
        ("summary", "Terminal \x1b[31mred\x1b[0m text", "U+001B"),
        ("keywords", ["ok", "bell\x07"], "U+0007"),
        ("reference", "Y.\x7fdel", "U+007F"),
    ],
)
def test_control_characters_are_refused_naming_field_and_character(
    quiet: TestClient, field: str, value: Any, code: str
) -> None:
    r = quiet.post("/v1/triage", json={**GOOD, field: value})
    assert r.status_code == 422
    d = _detail(r)
    assert d["loc"][:2] == ["body", field] and code in d["msg"]


def test_a_number_too_long_to_read_is_a_clear_400(quiet: TestClient) -> None:
    r = quiet.post("/v1/triage", content=b'{"title": 1' + b"0" * 5000 + b"}", headers=JSON)
    assert r.status_code == 400
    d = _detail(r)
    assert d["type"] == "json_invalid" and "digits" in d["msg"] and "sys." not in d["msg"]


def test_a_100000_item_batch_is_refused_with_413_before_any_item_is_triaged(
    quiet: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = api.runtime.bootstrap.triage

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(api.runtime.bootstrap, "triage", counting)
    r = quiet.post("/v1/triage/batch", json={"items": [{"title": "x"}] * 100_000})
    assert r.status_code == 413
    d = _detail(r)
    assert d["type"] == "too_many_items" and d["loc"] == ["body", "items"]
    assert "100000 items" in d["msg"] and "at most 1000" in d["msg"]
    assert calls == 0
    # Larger items push the same batch over the byte limit: refused before it is even parsed.
    r = quiet.post("/v1/triage/batch", json={"items": [{"title": "security of connected things " * 4}] * 100_000})
    assert r.status_code == 413 and _detail(r)["type"] == "body_too_large"
    assert calls == 0


def test_a_query_parameter_with_a_control_character_is_a_422(quiet: TestClient) -> None:
    r = quiet.post("/v1/triage?registry=%00", json=GOOD)
    assert r.status_code == 422 and _detail(r)["loc"] == ["query", "registry"]


# -- rule files ----------------------------------------------------------------------------------


def _refused(directory: Path) -> list[Any]:
    with pytest.raises(RuleLoadError) as caught:
        load_rules(directory)
    return caught.value.issues


def test_a_yaml_bomb_is_refused_at_its_first_anchor_without_expanding(rules_copy: Path) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    (rules_copy / "bomb.yaml").write_text("schema: iotsec-triage/rules@1\n" + "\n".join(levels) + "\n")
    issues = _refused(rules_copy)
    assert len(issues) == 1
    assert issues[0].file.endswith("bomb.yaml") and (issues[0].line, issues[0].code) == (2, "alias")
    assert "anchors" in issues[0].message


@pytest.mark.parametrize("pattern", ["((a+)+)+$", "(x|x)*!", "[a-z]+ security", "colou?r", "a."])
def test_a_pathological_pattern_as_a_phrase_is_refused_where_it_stands(rules_copy: Path, pattern: str) -> None:
    lexicon = rules_copy / "lexicon.yaml"
    text = lexicon.read_text()
    marker = "phrases: [privacy, "
    assert marker in text
    lexicon.write_text(text.replace(marker, f"phrases: [{json.dumps(pattern)}, privacy, ", 1))
    line = next(i for i, ln in enumerate(lexicon.read_text().splitlines(), 1) if json.dumps(pattern) in ln)
    issues = _refused(rules_copy)
    assert [(i.line, i.column > 1) for i in issues] == [(line, True)]
    assert "not a pattern" in issues[0].message and issues[0].file.endswith("lexicon.yaml")


def test_a_rule_file_over_the_size_limit_is_refused(rules_copy: Path) -> None:
    (rules_copy / "huge.yaml").write_text("schema: iotsec-triage/rules@1\n# " + "x" * 2_100_000 + "\n")
    issues = _refused(rules_copy)
    assert [i.code for i in issues] == ["limit"] and "over the" in issues[0].message


def test_a_rule_file_with_too_many_nodes_is_refused(rules_copy: Path) -> None:
    (rules_copy / "wide.yaml").write_text("schema: iotsec-triage/rules@1\nrules: [" + "1," * 450_000 + "1]\n")
    issues = _refused(rules_copy)
    assert [i.code for i in issues] == ["limit"] and "too many YAML nodes" in issues[0].message


def test_a_rule_file_linking_outside_the_rule_directory_is_refused(rules_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "extra.yaml").write_text((rules_copy / "advice.yaml").read_text())
    (rules_copy / "advice.yaml").unlink()
    (rules_copy / "advice.yaml").symlink_to(outside / "extra.yaml")
    issues = _refused(rules_copy)
    assert len(issues) == 1 and issues[0].code == "io"
    assert issues[0].file.endswith("advice.yaml") and "outside the rule directory" in issues[0].message
    assert str(outside) not in str(issues[0])


def test_a_link_inside_the_rule_directory_and_a_linked_directory_still_load(rules_copy: Path, tmp_path: Path) -> None:
    (rules_copy / "parts").mkdir()
    (rules_copy / "advice.yaml").rename(rules_copy / "parts" / "advice.yaml")
    (rules_copy / "advice.yaml").symlink_to(rules_copy / "parts" / "advice.yaml")
    link = tmp_path / "rules-link"
    link.symlink_to(rules_copy, target_is_directory=True)
    rs = load_rules(link)
    assert any(r.file.endswith("advice.yaml") for r in rs.rules.values())
    rs.close()


def test_a_rules_dir_setting_that_walks_out_is_refused_by_the_app(rules_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "loot").mkdir()
    (tmp_path / "loot" / "secret.yaml").write_text("password: hunter2\n")
    wandering = rules_copy / ".." / "loot"
    with pytest.raises(RuleLoadError) as caught:
        create_app(Settings(rules_dir=wandering, data_dir=tmp_path / "data"))  # type: ignore[arg-type]
    assert "hunter2" not in str(caught.value)


def test_a_reload_onto_an_escaping_link_is_refused_and_the_old_rules_keep_serving(
    rules_copy: Path, tmp_path: Path
) -> None:
    settings = Settings(rules_dir=rules_copy, data_dir=tmp_path / "data", admin_token=ADMIN, log_decisions=False)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        before = c.get("/v1/rules").json()["revision"]
        (tmp_path / "x.yaml").write_text((rules_copy / "advice.yaml").read_text())
        (rules_copy / "zz.yaml").symlink_to(tmp_path / "x.yaml")
        r = c.post("/v1/rules/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 422 and r.json()["reloaded"] is False
        assert "outside the rule directory" in r.json()["detail"][0]["msg"]
        assert c.get("/v1/rules").json()["revision"] == before
        assert c.post("/v1/triage", json=GOOD).status_code == 200


# -- memory ----------------------------------------------------------------------------------------


def _hostile_requests() -> Iterator[tuple[str, dict[str, Any]]]:
    big = b'{"title": "' + b"a" * 990_000 + b'"}'
    for i in range(60):
        yield "/v1/triage", {"content": big, "headers": JSON}
        yield "/v1/triage", {"content": b"[" * 30_000 + b"]" * 30_000, "headers": JSON}
        yield "/v1/triage", {"json": {**GOOD, "keywords": [f"k{i}"] * 20_000}}
        yield "/v1/triage/batch", {"json": {"items": [{"title": f"t{i}"}] * 5_000}}
        yield "/v1/triage", {"content": b'{"title": "\xff' + bytes([i]) + b'"}', "headers": JSON}


def test_memory_stays_bounded_over_a_few_hundred_hostile_requests(quiet: TestClient) -> None:
    for path, kwargs in list(_hostile_requests())[:10]:  # warm up: first-use allocations are not growth
        quiet.post(path, **kwargs)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    statuses: set[int] = set()
    count = 0
    for path, kwargs in _hostile_requests():
        statuses.add(quiet.post(path, **kwargs).status_code)
        count += 1
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert count == 300
    assert statuses <= {400, 413, 422}, statuses
    growth_mb = (after - before) / 1024
    assert growth_mb < 100, f"peak RSS grew by {growth_mb:.0f} MB over {count} hostile requests"
    assert quiet.post("/v1/triage", json=GOOD).status_code == 200


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc to read the current RSS")
def test_current_memory_returns_after_hostile_requests(quiet: TestClient) -> None:
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    for path, kwargs in list(_hostile_requests())[:50]:
        quiet.post(path, **kwargs)
    before = rss()
    for path, kwargs in list(_hostile_requests())[:150]:
        quiet.post(path, **kwargs)
    assert (rss() - before) / 2**20 < 100


# -- malformed input is always a 4xx -----------------------------------------------------------------

LONE = b'{"title": "Smart meter \\ud800 security"}'


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/triage", LONE, ["body", "title"]),
        ("/v1/triage", b'{"title": "Smart meter security", "\\udfff": 1}', ["body", "\\udfff"]),
        (
            "/v1/triage/batch",
            b'{"items": [{"title": "Smart meter security"}, ' + LONE + b"]}",
            ["body", "items", 1, "title"],
        ),
        ("/v1/triage/text", b'{"text": "Title: IoT \\udc00 security"}', ["body", "text"]),
        ("/v1/decisions/x/review", b'{"action": "confirm", "reviewer": "\\ud83d"}', ["body", "reviewer"]),
    ],
)
def test_a_lone_surrogate_escape_is_a_422_before_anything_is_decided_or_logged(
    tmp_path: Path, path: str, body: bytes, loc: list[Any]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", admin_token=ADMIN)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        r = c.post(path, content=body, headers={**JSON, "Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 422, r.text
        d = _detail(r)
        assert d["type"] == "invalid_unicode" and "lone surrogate" in d["msg"] and d["loc"] == loc
        assert c.app.state.runtime.decision_log().count() == 0  # type: ignore[attr-defined]
        # A pair is one character (an emoji), and an escaped backslash before "u" is plain text.
        pair = c.post("/v1/triage", content=b'{"title": "Smart meter security \\ud83d\\ude00 \\\\ud800"}', headers=JSON)
        assert pair.status_code == 200, pair.text


def test_error_bodies_that_echo_input_are_surrogate_safe() -> None:
    from api.web.errors import clean_errors

    out = clean_errors([{"loc": ("body", "ti\ud800tle"), "msg": "bad \udfff", "type": "x", "input": "a\ud800b"}])
    assert json.dumps(out, ensure_ascii=False).encode("utf-8")  # encodable: no lone surrogate left
    assert out[0]["input"] == "a\\ud800b" and out[0]["loc"] == ["body", "ti\\ud800tle"]


@pytest.mark.parametrize("offset", ["18446744073709551616", "9223372036854775808", "1" + "0" * 30, "-1"])
def test_an_offset_beyond_its_bound_is_a_422(tmp_path: Path, offset: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", admin_token=ADMIN, staff_token=STAFF)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        r = c.get(f"/v1/decisions?offset={offset}", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 422 and _detail(r)["loc"] == ["query", "offset"]
        assert c.get("/v1/decisions?offset=1000000000", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def test_deeply_nested_json_on_the_text_endpoint_is_a_400(quiet: TestClient) -> None:
    r = quiet.post("/v1/triage/text", content=b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", headers=JSON)
    assert r.status_code == 400 and _detail(r)["type"] == "too_deep"
    ok = quiet.post("/v1/triage/text", json={"text": "Title: Security requirements for smart irrigation gateways"})
    assert ok.status_code == 200


def test_a_batch_over_its_work_budget_is_a_413_before_any_item_is_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = api.runtime.bootstrap.triage

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(api.runtime.bootstrap, "triage", counting)
    settings = Settings(data_dir=tmp_path / "data", log_decisions=False, max_batch_chars=50_000)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        heavy = [dict(GOOD, text="security of connected things " * 1_000) for _ in range(3)]  # 3 x 29,000 characters
        r = c.post("/v1/triage/batch", json={"items": heavy})
        assert r.status_code == 413 and calls == 0
        d = _detail(r)
        assert d["type"] == "work_budget" and d["loc"] == ["body", "items"] and "50000 characters" in d["msg"]
        assert c.post("/v1/triage/batch", json={"items": heavy[:1]}).status_code == 200 and calls == 1


# -- deciding off the event loop -----------------------------------------------------------------------


def test_deciding_runs_in_worker_threads_never_on_the_event_loop(
    quiet: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    real = api.runtime.bootstrap.triage
    threads: list[str] = []

    def where(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    loop_threads: list[str] = []

    @quiet.app.get("/_test/loop-thread")  # type: ignore[attr-defined]
    async def loop_thread() -> dict[str, str]:
        loop_threads.append(threading.current_thread().name)
        return {}

    monkeypatch.setattr(api.runtime.bootstrap, "triage", where)
    quiet.get("/_test/loop-thread")
    assert quiet.post("/v1/triage", json=GOOD).status_code == 200
    assert quiet.post("/v1/triage/batch", json={"items": [GOOD, GOOD]}).status_code == 200
    assert quiet.post("/v1/triage/text", json={"text": "Title: " + GOOD["title"]}).status_code == 200
    assert len(threads) == 4 and loop_threads and not set(threads) & set(loop_threads)


def test_the_lanes_bound_how_many_decide_at_once_and_batches_take_turns() -> None:
    import threading

    import anyio

    from api.web.lanes import Lanes

    lanes = Lanes(decide_threads=2, batch_threads=1)
    lock = threading.Lock()
    running = {"single": 0, "batch": 0}
    peak = {"single": 0, "batch": 0}
    order: list[str] = []
    gate = threading.Event()

    def work(lane: str, name: str) -> None:
        with lock:
            running[lane] += 1
            peak[lane] = max(peak[lane], running[lane])
        gate.wait(5)  # bounded
        with lock:
            running[lane] -= 1
            order.append(name)

    async def batch(name: str, slices: int) -> None:
        for i in range(slices):
            await lanes.batch(work, "batch", f"{name}{i}")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(lanes.single, work, "single", f"s{i}")
            tg.start_soon(batch, "A", 3)
            await anyio.sleep(0.05)
            tg.start_soon(batch, "B", 3)
            await anyio.sleep(0.2)
            gate.set()

    anyio.run(main)
    assert peak == {"single": 2, "batch": 1}
    batches = [n for n in order if n[0] in "AB"]
    # B's first slice comes right after A's first: a second batch does not wait for all of the first.
    assert batches[:2] == ["A0", "B0"], batches
