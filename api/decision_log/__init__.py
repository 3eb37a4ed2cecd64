"""The decision log: SQLAlchemy models, engine and migrations, the DecisionLog service, the review
policy, and triage-and-record."""

from api.decision_log.flow import LogNote, decide, decide_async, decide_indexed, record, record_many_async
from api.decision_log.review import apply_review
from api.decision_log.schemas import (
    DecisionFilter,
    DecisionPage,
    DecisionRecord,
    PublicReview,
    ReviewedDecision,
    ReviewInfo,
    ReviewRequest,
    RulesNow,
)
from api.decision_log.service import (
    DecisionLog,
    Logged,
    LogUnavailable,
    NotFound,
    canonical_json,
    need_of,
    proposal_hash,
    same_work,
)

__all__ = [
    "DecisionFilter",
    "DecisionLog",
    "DecisionPage",
    "DecisionRecord",
    "LogNote",
    "LogUnavailable",
    "Logged",
    "NotFound",
    "PublicReview",
    "ReviewInfo",
    "ReviewRequest",
    "ReviewedDecision",
    "RulesNow",
    "apply_review",
    "canonical_json",
    "decide",
    "need_of",
    "same_work",
    "decide_async",
    "decide_indexed",
    "proposal_hash",
    "record",
    "record_many_async",
]
