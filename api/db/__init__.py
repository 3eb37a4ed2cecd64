"""The decision log: SQLAlchemy models, engine and migrations, the DecisionLog service, triage-and-record."""
from api.db.flow import apply_review, decide, decide_async, get_log, log_for_app, record, record_many_async
from api.db.schemas import DecisionFilter, DecisionPage, DecisionRecord, ReviewedDecision, ReviewInfo, ReviewRequest, RulesNow
from api.db.service import DecisionLog, Logged, LogUnavailable, NotFound, canonical_json, proposal_hash

__all__ = [
    "DecisionFilter", "DecisionLog", "DecisionPage", "DecisionRecord", "LogUnavailable", "Logged", "NotFound",
    "ReviewInfo", "ReviewRequest", "ReviewedDecision", "RulesNow", "apply_review", "canonical_json", "decide",
    "decide_async", "get_log", "log_for_app", "proposal_hash", "record", "record_many_async",
]
