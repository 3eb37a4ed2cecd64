"""The contracts: the proposal that comes in and the decision that goes out (DESIGN.md)."""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Home = Literal["SG17", "SG20", "joint", "other", "undetermined"]
LeadSG = Literal["SG17", "SG20"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_QUESTION = re.compile(r"^Q\d{1,2}/\d{1,2}$")


def _no_control(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"control character U+{ord(found.group()):04X} at offset {found.start()} is not allowed")
    return value


def _text(max_length: int, min_length: int = 0) -> object:
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_no_control),
    ]


def _question(value: str) -> str:
    if not _QUESTION.match(value):
        raise ValueError(f"{value!r} is not a Question such as 'Q6/17'")
    return value


Title = _text(300, 1)
LongText = _text(20_000)
BodyText = _text(100_000)
Item = _text(200, 1)
QuestionId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10), AfterValidator(_question)]


class Proposal(BaseModel):
    """A proposed work item, as a submitter or an A.1 justification gives it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    title: Title = Field(description="Title of the proposed work item (required).")  # type: ignore[valid-type]
    summary: LongText = ""  # type: ignore[valid-type]
    scope: LongText = ""  # type: ignore[valid-type]
    keywords: list[Item] = Field(default_factory=list, max_length=50)  # type: ignore[valid-type]
    questions: list[QuestionId] = Field(default_factory=list, max_length=20, description="Questions the submitter proposes, e.g. 'Q6/17'.")
    relations: list[Item] = Field(default_factory=list, max_length=50, description="Related or revised Recommendations, e.g. 'X.1352'.")  # type: ignore[valid-type]
    liaisons: list[Item] = Field(default_factory=list, max_length=50)  # type: ignore[valid-type]
    reference: _text(100) = Field(default="", description="Provisional name, e.g. 'X.iot-dt'.")  # type: ignore[valid-type]
    text: BodyText = Field(default="", description="Full body text.")  # type: ignore[valid-type]
    submitter: _text(200) = ""  # type: ignore[valid-type]


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
    related_work: list[RelatedWork] = Field(default_factory=list)
    ruleset: RulesetInfo
    decision_id: str

    def flag_codes(self) -> list[str]:
        return [f.code for f in self.flags]
