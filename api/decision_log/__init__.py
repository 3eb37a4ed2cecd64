"""The decision log: SQLAlchemy models, engine and migrations, the DecisionLog service, the review
policy, and triage-and-record.

The names below are loaded on first use (PEP 562): `api.decision_log.review` or `.schemas` alone
does not load SQLAlchemy, so a door that does not log never imports it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Written as "X as X": what a type checker sees exported (the same names as _WHERE, checked by
# tests/api/decision_log/test_package.py).
if TYPE_CHECKING:
    from api.decision_log.flow import LogNote as LogNote
    from api.decision_log.flow import Triage as Triage
    from api.decision_log.flow import decide as decide
    from api.decision_log.flow import decide_async as decide_async
    from api.decision_log.flow import decide_indexed as decide_indexed
    from api.decision_log.flow import record as record
    from api.decision_log.flow import record_many_async as record_many_async
    from api.decision_log.review import apply_review as apply_review
    from api.decision_log.schemas import DecisionFilter as DecisionFilter
    from api.decision_log.schemas import DecisionPage as DecisionPage
    from api.decision_log.schemas import DecisionRecord as DecisionRecord
    from api.decision_log.schemas import PublicReview as PublicReview
    from api.decision_log.schemas import ReviewedDecision as ReviewedDecision
    from api.decision_log.schemas import ReviewInfo as ReviewInfo
    from api.decision_log.schemas import ReviewRequest as ReviewRequest
    from api.decision_log.schemas import RulesNow as RulesNow
    from api.decision_log.service import DecisionLog as DecisionLog
    from api.decision_log.service import Logged as Logged
    from api.decision_log.service import LogUnavailable as LogUnavailable
    from api.decision_log.service import NotFound as NotFound
    from api.decision_log.service import canonical_json as canonical_json
    from api.decision_log.service import need_of as need_of
    from api.decision_log.service import proposal_hash as proposal_hash
    from api.decision_log.service import same_work as same_work

_WHERE = {
    "LogNote": "flow",
    "Triage": "flow",
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

__all__ = sorted(_WHERE)  # every name loaded on first use is public, and only those


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found at once from now on
    return value
