"""The contracts: the proposal that comes in and the decision that goes out (docs/architecture.md).

Text that comes in is checked as Unicode, not only as characters:
- a lone surrogate ("\\ud800" from a JSON escape) anywhere is a validation error (it cannot be
  encoded later, in a response, a log or the database); the error never echoes it back;
- identifiers (Questions, related Recommendations, liaisons, the provisional name) are normalised
  with NFKC and their digits read as ASCII ("Q６/17" and "Q٦/١٧" are Q6/17), then parsed; a
  Question is written canonically ("q06/17" -> "Q6/17");
- bidirectional overrides, embeddings and isolates (U+202A-202E, U+2066-2069) are refused in every
  short field, and zero-width and other invisible characters too in the title: they make what is
  displayed differ from what is matched.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from engine.vocabulary import Home, LeadSG, Outcome

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_QUESTION = re.compile(r"^Q(\d{1,2})/(\d{1,2})$", re.ASCII | re.IGNORECASE)
_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Zero-width spaces and joiners, directional marks, word joiner and invisible operators, BOM.
_INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u2060-\u2064\ufeff]")


def _no_control(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"control character U+{ord(found.group()):04X} at offset {found.start()} is not allowed")
    found = _BIDI_CONTROL.search(value)
    if found:
        raise ValueError(f"bidirectional control U+{ord(found.group()):04X} at offset {found.start()} is not allowed")
    return value


def _visible(value: str) -> str:
    found = _INVISIBLE.search(value)
    if found:
        raise ValueError(
            f"invisible character U+{ord(found.group()):04X} ({unicodedata.name(found.group(), 'format character')}) "
            f"at offset {found.start()} is not allowed"
        )
    return value


def _no_body_control(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"control character U+{ord(found.group()):04X} at offset {found.start()} is not allowed")
    return value


def normalise_identifier(value: Any) -> Any:
    """NFKC, then every decimal digit as its ASCII digit: "Ｘ．１３５２" -> "X.1352", "Q٦/١٧" -> "Q6/17"."""
    if not isinstance(value, str):
        return value
    value = unicodedata.normalize("NFKC", value)
    if value.isascii():
        return value
    return "".join(str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in value)


def _question(value: str) -> str:
    m = _QUESTION.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a Question such as 'Q6/17'")
    return f"Q{int(m.group(1))}/{int(m.group(2))}"


_NoControl = AfterValidator(_no_control)
_Identifier = BeforeValidator(normalise_identifier)
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), _NoControl, AfterValidator(_visible)
]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000), AfterValidator(_no_body_control)]
BodyText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100_000), AfterValidator(_no_body_control)
]
Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _NoControl]
IdentifierItem = Annotated[
    str, _Identifier, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _NoControl
]
Reference = Annotated[str, _Identifier, StringConstraints(strip_whitespace=True, max_length=100), _NoControl]
Submitter = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), _NoControl]
QuestionId = Annotated[
    str, _Identifier, StringConstraints(strip_whitespace=True, max_length=10), AfterValidator(_question)
]


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _refuse_surrogates(data: Any) -> Any:
    """Any lone surrogate in the input (keys, strings, strings in lists) is a validation error. The
    error's input is the whole object, which error reports do not echo."""
    if not isinstance(data, dict):
        return data
    for key, value in data.items():
        if isinstance(key, str) and _SURROGATE.search(key):
            raise ValueError(f"field name {_printable(key)!r} is not valid Unicode text (lone surrogate)")
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            found = _SURROGATE.search(item) if isinstance(item, str) else None
            if found:
                where = f"{key}[{i}]" if isinstance(value, list) else str(key)
                raise ValueError(
                    f"{where}: lone surrogate U+{ord(found.group()):04X} at offset {found.start()} is not valid "
                    "Unicode text"
                )
    return data


class Proposal(BaseModel):
    """A proposed work item, as a submitter or an A.1 justification gives it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    title: Title = Field(description="Title of the proposed work item (required).")
    summary: LongText = ""
    scope: LongText = ""
    keywords: list[Item] = Field(default_factory=list, max_length=50)
    questions: list[QuestionId] = Field(
        default_factory=list, max_length=20, description="Questions the submitter proposes, e.g. 'Q6/17'."
    )
    relations: list[IdentifierItem] = Field(
        default_factory=list, max_length=50, description="Related or revised Recommendations, e.g. 'X.1352'."
    )
    liaisons: list[IdentifierItem] = Field(default_factory=list, max_length=50)
    reference: Reference = Field(default="", description="Provisional name, e.g. 'X.iot-dt'.")
    text: BodyText = Field(default="", description="Full body text.")
    submitter: Submitter = ""

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        return _refuse_surrogates(data)


class Flag(BaseModel):
    code: str
    text: str


class Evidence(BaseModel):
    """Words of the proposal that produced a fact: which field, which words, which concept."""

    field: str
    words: str
    concept: str


class Reason(BaseModel):
    rule: str
    text: str
    effect: str
    evidence: list[Evidence] = Field(default_factory=list)
    stage: str = ""
    outcome: Outcome = Field(
        default="advisory",
        description="chosen: decided the home; outranked: recommended a home "
        "that lost; advisory: suggested Questions or raised flags only; derived: fed later rules.",
    )


class RelatedWork(BaseModel):
    id: str
    study_group: str
    title: str
    score: float
    question: str = ""
    relation: str = ""


class RulesetInfo(BaseModel):
    version: str
    revision: str


class Decision(BaseModel):
    """The recommended home of a proposal, with everything a person needs to check it."""

    home: Home
    lead: LeadSG | None = None
    other_sg: str | None = None
    questions: list[str] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    flags: list[Flag] = Field(default_factory=list)
    reasons: list[Reason] = Field(default_factory=list)
    deciding_rules: list[str] = Field(default_factory=list, description="Ids of the rules that chose the home.")
    related_work: list[RelatedWork] = Field(default_factory=list)
    ruleset: RulesetInfo
    decision_id: str

    def flag_codes(self) -> list[str]:
        return [f.code for f in self.flags]
