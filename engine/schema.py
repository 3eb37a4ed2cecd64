"""Schemas of the rule-set files (versioned by their `schema:` key), checked at load time.

Every file of a rule set names its kind and version on its first key:
    iotsec-triage/catalogue@1  study groups, Questions, series, stages, flag texts, weights
    iotsec-triage/lexicon@1    concepts and the phrases that produce them
    iotsec-triage/rules@1      rules: conditions over signals, effects
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from engine.vocabulary import LeadSG

SCHEMA_CATALOGUE = "iotsec-triage/catalogue@1"
SCHEMA_LEXICON = "iotsec-triage/lexicon@1"
SCHEMA_RULES = "iotsec-triage/rules@1"
KNOWN_SCHEMAS = (SCHEMA_CATALOGUE, SCHEMA_LEXICON, SCHEMA_RULES)


Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{2,79}$")]
SG = Annotated[str, StringConstraints(pattern=r"^SG\d{1,2}$")]
QuestionId = Annotated[str, StringConstraints(pattern=r"^Q\d{1,2}/\d{1,2}$")]
FlagCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{2,47}$")]
Sentence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]
Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=80)]


class _Strict(BaseModel):
    # Built on first validation: a rule set read from the cache never validates (api/runtime/cache.py).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


# ---------------------------------------------------------------- catalogue


class StudyGroupDef(_Strict):
    name: Sentence
    default_question: QuestionId | None = None


class QuestionDef(_Strict):
    id: QuestionId
    title: Sentence


class SeriesDef(_Strict):
    prefix: Annotated[str, StringConstraints(pattern=r"^[A-Z]$")]
    start: float = Field(alias="from")
    end: float = Field(alias="to")
    sg: SG
    label: Sentence
    question: QuestionId | None = None


class StageDef(_Strict):
    confidence: float = Field(ge=0.0, le=1.0)


class JointDef(_Strict):
    lead_signals: dict[LeadSG, list[Name]]
    tie_lead: LeadSG = "SG17"


class RepeatDef(_Strict):
    count: int = Field(default=3, ge=2, le=50)
    level: int = Field(default=2, ge=1, le=9)


# The stages that decide, in the order they are tried (engine.vocabulary.STAGES, checked by
# tests/engine/test_schema_stages.py); a rule may also be advisory (it decides nothing).
DecidingStage = Literal["continuity", "other_sg", "precedent", "joint", "principle", "default"]
RuleStage = Literal[DecidingStage, "advisory"]


def _only_continuity() -> list[DecidingStage]:
    return ["continuity"]


class ReviewDef(_Strict):
    """When a decision also carries NEEDS_REVIEW, beyond review_below (rules/README.md, "Review")."""

    disagree: int = Field(
        default=101, ge=0, le=101
    )  # existing work points to another home at least this much (prec_, 0..100)
    thin_lead: int = Field(default=0, ge=0, le=100)  # the first SG by precedent leads the second by less than this
    # stages whose decision a split precedent does not put up for review: continuity (a revision stays
    # with its owner) and, as the rules choose, precedent (a series the rules encode themselves)
    thin_lead_skip: list[DecidingStage] = Field(default_factory=_only_continuity)
    proposed: bool = False  # the submitter's Question or series letter points elsewhere
    contested: bool = False  # both SG17 and SG20 had candidates and a principle or default decided
    # confidence = (1 - w) x the rules' confidence + w x how strongly existing work points to the home (prec_, 0..1);
    # only when there are precedent signals (with a registry). 0 keeps the rules' confidence.
    precedent_weight: float = Field(default=0.0, ge=0.0, le=1.0)


class LimitsDef(_Strict):
    shard_size: int = Field(default=64, ge=8, le=500)


class CatalogueFile(_Strict):
    schema_: Literal["iotsec-triage/catalogue@1"] = Field(alias="schema")
    version: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    fields: dict[Literal["title", "keywords", "scope", "summary", "text"], int]
    study_groups: dict[SG, StudyGroupDef]
    questions: list[QuestionDef] = Field(min_length=1)
    series: list[SeriesDef] = Field(default_factory=list)
    provisional: dict[Annotated[str, StringConstraints(pattern=r"^[A-Z]$")], SG] = Field(default_factory=dict)
    exclusion_cues: list[Phrase] = Field(default_factory=list)
    stages: dict[DecidingStage, StageDef]
    joint: JointDef
    review_below: float = Field(ge=0.0, le=1.0)
    review: ReviewDef = Field(default_factory=ReviewDef)
    repeat: RepeatDef = Field(default_factory=RepeatDef)
    flags: dict[FlagCode, Sentence]
    limits: LimitsDef = Field(default_factory=LimitsDef)

    @field_validator("fields")
    @classmethod
    def _weights(cls, value: dict[str, int]) -> dict[str, int]:
        for field, weight in value.items():
            if not 1 <= weight <= 9:
                raise ValueError(f"weight of {field!r} must be 1..9")
        return value


# ---------------------------------------------------------------- lexicon


class CategoryDef(_Strict):
    id: Name
    description: Sentence


class ContextDef(_Strict):
    """Phrases of a concept that count only near another phrase: `near` at most `within` words
    away in the same field. No `phrases`: every phrase of the concept needs the context."""

    phrases: list[Phrase] = Field(default_factory=list, max_length=50)
    near: list[Phrase] = Field(min_length=1, max_length=50)
    within: int = Field(default=5, ge=1, le=20)


class ConceptDef(_Strict):
    id: Name
    category: Name
    label: Sentence
    phrases: list[Phrase] = Field(min_length=1, max_length=300)
    weight: int = Field(default=1, ge=1, le=5)
    not_within: list[Phrase] = Field(default_factory=list, max_length=50)
    requires: list[ContextDef] = Field(default_factory=list, max_length=5)


class LexiconFile(_Strict):
    schema_: Literal["iotsec-triage/lexicon@1"] = Field(alias="schema")
    categories: list[CategoryDef] = Field(default_factory=list)
    concepts: list[ConceptDef] = Field(default_factory=list)


# ---------------------------------------------------------------- rules


class When(_Strict):
    """Conditions over signals; every listed condition must hold."""

    all: list[Name] = Field(default_factory=list, max_length=20)
    any: list[Name] = Field(default_factory=list, max_length=60)
    none: list[Name] = Field(default_factory=list, max_length=60)
    in_title: list[Name] = Field(default_factory=list, max_length=20)
    min: dict[Name, int] = Field(default_factory=dict)
    max: dict[Name, int] = Field(default_factory=dict)


class Recommend(_Strict):
    home: Literal["SG17", "SG20", "joint", "other"]
    lead: Literal["SG17", "SG20", "stronger"] | None = None
    other_sg: SG | None = None
    weight: int = Field(default=1, ge=1, le=10)


class FlagEffect(_Strict):
    code: FlagCode
    text: Sentence


class Then(_Strict):
    recommend: Recommend | None = None
    questions: list[QuestionId] = Field(default_factory=list, max_length=5)
    flags: list[FlagEffect] = Field(default_factory=list, max_length=5)
    derive: list[Name] = Field(default_factory=list, max_length=5)


class RuleDef(_Strict):
    id: RuleId
    description: Sentence
    source: Sentence
    stage: RuleStage
    when: When
    then: Then
    enabled: bool = True


class RulesFile(_Strict):
    schema_: Literal["iotsec-triage/rules@1"] = Field(alias="schema")
    rules: list[RuleDef] = Field(default_factory=list)
