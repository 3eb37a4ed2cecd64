"""What the decision log hands out: reviewed decisions, review requests, stored records."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from engine.models import Decision, Flag, QuestionId
from engine.vocabulary import Home, LeadSG

Status = Literal["open", "confirmed", "overridden", "reviewed"]
MAX_OFFSET = 1_000_000_000  # far past any log, well inside the 64-bit integer a database takes


class RulesNow(BaseModel):
    """What the rules decide today, shown beside a person's decision that overrides them."""

    home: Home
    lead: LeadSG | None = None
    other_sg: str | None = None
    questions: list[str] = Field(default_factory=list)
    confidence: float
    flags: list[Flag] = Field(default_factory=list)
    deciding_rules: list[str] = Field(default_factory=list, description="The rules that chose the rules' home.")
    label: str = Field("", description="The rules' home in the one notation (SG17, joint:SG20, other:SG11).")


class ReviewInfo(BaseModel):
    """A person's review: confirm the rules' decision, or override home, lead and Questions."""

    review_id: int
    decision_id: str
    action: Literal["confirm", "override"]
    home: Home
    lead: LeadSG | None = None
    other_sg: str | None = None
    questions: list[str] = Field(default_factory=list)
    reason: str = ""
    reviewer: str
    reviewed_at: datetime
    inherited_from: int | None = None


class PublicReview(BaseModel):
    """A review as anyone may see it: what was decided and when; who and why are for staff only."""

    review_id: int
    decision_id: str
    action: Literal["confirm", "override"]
    home: Home
    lead: LeadSG | None = None
    other_sg: str | None = None
    questions: list[str] = Field(default_factory=list)
    reviewed_at: datetime
    inherited_from: int | None = None

    @classmethod
    def of(cls, review: ReviewInfo) -> "PublicReview":
        return cls.model_validate(review.model_dump(exclude={"reviewer", "reason"}))


class ReviewedDecision(Decision):
    """A Decision (docs/architecture.md contract, unchanged) plus whether a person's review decided it."""

    reviewed: bool = Field(False, description="True when a person's review of this contribution decides it.")
    decided_by: Literal["rules", "review"] = Field("rules", description="Who decided the home: the rules, or a person's review.")
    review: PublicReview | None = Field(None, description="The review that stands (same proposal hash, or same reference and "
                                        "the same work); the reviewer's name and reason are for staff only.")
    rules_now: RulesNow | None = Field(None, description="What the rules said, when a review decided.")


class ReviewRequest(BaseModel):
    """Body of POST /v1/decisions/{decision_id}/review."""

    model_config = {"extra": "forbid", "str_strip_whitespace": True}

    action: Literal["confirm", "override"]
    home: Home | None = Field(None, description="Required to override.")
    lead: LeadSG | None = Field(None, description="Required when home is joint; SG17/SG20 lead themselves.")
    other_sg: str | None = Field(None, pattern=r"^SG\d{1,2}$", description="When home is other, e.g. SG11.")
    questions: list[QuestionId] | None = Field(None, max_length=20)
    reason: str = Field("", max_length=2000)
    reviewer: str = Field(min_length=1, max_length=200)

    @field_validator("reviewer")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the reviewer's name is required")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "ReviewRequest":
        if self.action == "override":
            if self.home is None:
                raise ValueError("an override needs a home")
            if not self.reason.strip():
                raise ValueError("an override needs a reason")
            if self.home == "joint" and self.lead is None:
                raise ValueError("joint work needs a lead (SG17 or SG20)")
            if self.home in ("SG17", "SG20"):
                if self.lead not in (None, self.home):
                    raise ValueError(f"lead must be {self.home} when home is {self.home}")
                self.lead = self.home
            if self.home in ("other", "undetermined") and self.lead is not None:
                raise ValueError(f"no lead when home is {self.home}")
            if self.home != "other":
                self.other_sg = None
        return self


class DecisionRecord(BaseModel):
    """One logged decision as staff see it: input, the rules' result, reviews, what stands."""

    decision_id: str
    reference: str
    item_id: str | None = Field(None, description="The item's own id when it came with one (a file's id column, a "
                                "contribution number, a batch item's id); the first one seen for this decision.")
    proposal_hash: str
    title: str
    proposal: dict[str, Any]
    result: dict[str, Any]
    home: str
    lead: str | None
    confidence: float
    flags: list[str]
    rule_revision: str
    rule_version: str
    actor: str
    created_at: datetime
    status: Literal["open", "confirmed", "overridden"]
    final_home: str
    reviews: list[ReviewInfo] = Field(default_factory=list)
    reference_reviews: list[str] = Field(default_factory=list, description="Other decisions of the same reference with a "
                                         "review that does not stand for this one (different work under the same name).")


class DecisionPage(BaseModel):
    total: int
    items: list[DecisionRecord]


class DecisionFilter(BaseModel):
    """Filters of the list: all optional, combined with AND."""

    flag: str | None = None
    home: str | None = None
    status: Status | None = None
    text: str | None = None
    since: date | None = None
    until: date | None = None
    sort: Literal["newest", "priority"] = "newest"
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
