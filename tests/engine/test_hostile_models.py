"""Hostile Unicode in proposals: identifiers read as what they show (NFKC, ASCII digits), invisible
and bidirectional controls refused in titles, lone surrogates refused anywhere, as 4xx errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from engine import Proposal
from engine.facts import extract

TITLE = "Security of IoT gateways"


@pytest.mark.parametrize("written", ["Q６/17", "Ｑ６／１７", "Q٦/١٧", "Q۶/۱۷", "q06/17", " Q6/17 "])
def test_questions_in_any_digits_are_read_as_the_question_they_show(written: str, ruleset: Any) -> None:
    p = Proposal(title=TITLE, questions=[written])
    assert p.questions == ["Q6/17"]
    assert extract(p, ruleset).signals.get("proposes_sg17") == 1  # counted, not silently ignored


@pytest.mark.parametrize("written", ["Q6/17a", "Q١٢٣/17", "Q6-17", "Ⅵ/17", "Q6/"])
def test_a_question_that_is_not_one_is_refused(written: str) -> None:
    with pytest.raises(ValidationError, match="is not a Question"):
        Proposal(title=TITLE, questions=[written])


def test_related_recommendations_and_references_are_normalised(ruleset: Any) -> None:
    p = Proposal(title=TITLE, relations=["Ｘ．１３５２", "Y.٤٨٠٦"], liaisons=["ＳＧ１７"], reference="Ｘ.iot-gw")
    assert p.relations == ["X.1352", "Y.4806"] and p.liaisons == ["SG17"] and p.reference == "X.iot-gw"
    signals = extract(p, ruleset).signals
    assert signals.get("cites_sg17") == 1 and signals.get("liaises_sg17") == 1 and signals.get("reference_sg17") == 1


@pytest.mark.parametrize(
    "char", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
)
def test_bidirectional_controls_are_refused_in_titles_and_items(char: str) -> None:
    with pytest.raises(ValidationError, match=f"bidirectional control U\\+{ord(char):04X}"):
        Proposal(title=f"IoT {char}security")
    with pytest.raises(ValidationError, match="bidirectional control"):
        Proposal(title=TITLE, keywords=[f"{char}IoT"])


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff"])
def test_zero_width_characters_are_refused_in_titles(char: str) -> None:
    with pytest.raises(ValidationError, match=f"invisible character U\\+{ord(char):04X}"):
        Proposal(title=f"Io{char}T security")


def test_ordinary_unicode_titles_still_pass() -> None:
    for title in (
        "Sécurité de l'IoT",
        "物联网安全要求",
        "أمن إنترنت الأشياء",
        "IoT security — guidelines (2nd edition)",
    ):
        assert Proposal(title=title).title == title


FIELDS = [
    ("title", "IoT \ud800 security"),
    ("summary", "x \udfff"),
    ("text", "\ud83d"),
    ("scope", "a\udc00"),
    ("keywords", ["\ud800"]),
    ("relations", ["X.1352\ud800"]),
    ("liaisons", ["SG17\ud800"]),
    ("questions", ["Q6/17\ud800"]),
    ("reference", "X.\ud800"),
    ("submitter", "\ud800"),
]


@pytest.mark.parametrize("field, value", FIELDS)
def test_a_lone_surrogate_in_any_field_is_a_validation_error_that_can_be_encoded(field: str, value: Any) -> None:
    from api.web.errors import clean_errors

    data = {"title": TITLE, field: value}
    with pytest.raises(ValidationError) as caught:
        Proposal.model_validate(data)
    assert "surrogate" in str(caught.value)
    json.dumps(clean_errors(caught.value.errors()), ensure_ascii=False).encode("utf-8")  # the 422 body can be sent


def test_a_lone_surrogate_in_a_field_name_is_a_validation_error() -> None:
    from api.web.errors import clean_errors

    with pytest.raises(ValidationError) as caught:
        Proposal.model_validate({"title": TITLE, "\ud800": "x"})
    json.dumps(clean_errors(caught.value.errors()), ensure_ascii=False).encode("utf-8")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.runtime.settings import Settings
    from api.web.app import create_app

    data: Path = tmp_path_factory.mktemp("unicode") / "data"
    settings = Settings(data_dir=data, admin_token="u" * 32, log_decisions=True)  # type: ignore[arg-type]
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": "IoT \\ud800 security"}',
        b'{"title": "IoT", "text": "x \\udfff"}',
        b'{"title": "IoT", "submitter": "\\ud83d"}',
        b'{"title": "IoT", "keywords": ["\\ud800"]}',
    ],
)
def test_the_service_answers_a_lone_surrogate_with_a_422(client: Any, body: bytes) -> None:
    r = client.post("/v1/triage", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "surrogate" in r.json()["detail"][0]["msg"]
    batch = client.post(
        "/v1/triage/batch", content=b'{"items": [' + body + b"]}", headers={"content-type": "application/json"}
    )
    assert batch.status_code in (200, 422) and "surrogate" in batch.text
