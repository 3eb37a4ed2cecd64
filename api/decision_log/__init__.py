"""The decision log: SQLAlchemy models, engine and migrations, the DecisionLog service, the review
policy, and triage-and-record.

The names below are loaded on first use (PEP 562): `api.decision_log.review` or `.schemas` alone
does not load SQLAlchemy, so a door that does not log never imports it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "LogNote": "flow",
    "decide": "flow",
    "decide_async": "flow",
    "decide_indexed": "flow",
    "record": "flow",
    "record_many_async": "flow",
    "apply_review": "review",
    "DecisionFilter": "schemas",
    "DecisionPage": "schemas",
    "DecisionRecord": "schemas",
    "PublicReview": "schemas",
    "ReviewedDecision": "schemas",
    "ReviewInfo": "schemas",
    "ReviewRequest": "schemas",
    "RulesNow": "schemas",
    "DecisionLog": "service",
    "Logged": "service",
    "LogUnavailable": "service",
    "NotFound": "service",
    "canonical_json": "service",
    "need_of": "service",
    "proposal_hash": "service",
    "same_work": "service",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found at once from now on
    return value
