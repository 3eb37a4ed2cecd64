"""The contracts: the proposal that comes in and the decision that goes out (docs/architecture.md)."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from engine.vocabulary import Home, LeadSG, Outcome


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_QUESTION = re.compile(r"^Q\d{1,2}/\d{1,2}$")


def _no_control(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(f"control character U+{ord(found.group()):04X} at offset {found.start()} is not allowed")
    return value


def _question(value: str) -> str:
    if not _QUESTION.match(value):
        raise ValueError(f"{value!r} is not a Question such as 'Q6/17'")
    return value


_NoControl = AfterValidator(_no_control)
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), _NoControl]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000), _NoControl]
BodyText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100_000), _NoControl]
Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _NoControl]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), _NoControl]
Submitter = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), _NoControl]
QuestionId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10), AfterValidator(_question)]


class Proposal(BaseModel):
    """A proposed work item, as a submitter or an A.1 justification gives it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    title: Title = Field(description="Title of the proposed work item (required).")
    summary: LongText = ""
    scope: LongText = ""
    keywords: list[Item] = Field(default_factory=list, max_length=50)
    questions: list[QuestionId] = Field(default_factory=list, max_length=20, description="Questions the submitter proposes, e.g. 'Q6/17'.")
    relations: list[Item] = Field(default_factory=list, max_length=50, description="Related or revised Recommendations, e.g. 'X.1352'.")
    liaisons: list[Item] = Field(default_factory=list, max_length=50)
    reference: Reference = Field(default="", description="Provisional name, e.g. 'X.iot-dt'.")
    text: BodyText = Field(default="", description="Full body text.")
    submitter: Submitter = ""


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
    outcome: Outcome = Field(default="advisory", description="chosen: decided the home; outranked: recommended a home "
                             "that lost; advisory: suggested Questions or raised flags only; derived: fed later rules.")


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
