"""Triage with the decision log: the one function the doors (HTTP, pages, batch) call to decide.

It triages, then in one transaction records the decision and finds a person's review of the same
contribution; a review that exists decides (never silently overruled), with the rules' current
answer beside it. A log that cannot be reached never stops an answer: the note says so.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Literal

from starlette.concurrency import run_in_threadpool

from api.db.schemas import ReviewedDecision, ReviewInfo, RulesNow
from api.db.service import DecisionLog, LogUnavailable, proposal_hash
from engine import Decision, Flag, Proposal, RuleSet, triage

log = logging.getLogger("iotsec_triage.decision_log")
LogNote = Literal["recorded", "existing", "off", "failed"]
_create_lock = threading.Lock()
# Flags that a person's review settles; JOINT_WORK follows the reviewed home.
_SETTLED = {"NEEDS_REVIEW", "JOINT_WORK", "OUT_OF_SCOPE"}


def get_log(state: Any) -> DecisionLog:
    """The app's decision log, created on first use from its settings (app.state.settings)."""
    existing = getattr(state, "decision_log", None)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    with _create_lock:
        existing = getattr(state, "decision_log", None)
        if existing is None:
            existing = DecisionLog(state.settings.resolved_database_url())
            state.decision_log = existing
    return existing


def apply_review(decision: Decision, review: ReviewInfo | None, rs: RuleSet | None = None) -> ReviewedDecision:
    """The decision that stands: the rules' own, or the reviewer's with the rules' answer in rules_now."""
    if review is None:
        # The common case, on every request: the engine's validated parts as they are, no copy.
        return ReviewedDecision.model_construct(**dict(decision), reviewed=False, review=None, rules_now=None)
    data = decision.model_dump()
    rules_now = RulesNow(home=decision.home, lead=decision.lead, other_sg=decision.other_sg, questions=list(decision.questions),
                         confidence=decision.confidence, flags=list(decision.flags))
    flags = [f for f in decision.flags if f.code not in _SETTLED]
    texts = rs.catalogue.flags if rs is not None else {}
    if review.home == "joint":
        text = texts.get("JOINT_WORK", "{lead}").replace("{lead}", review.lead or "")
        flags.insert(0, Flag(code="JOINT_WORK", text=text))
    if review.home == "other":
        text = texts.get("OUT_OF_SCOPE", "{other_sg}").replace("{other_sg}", review.other_sg or "another SG")
        flags.insert(0, Flag(code="OUT_OF_SCOPE", text=text))
    # A person settled it: confidence 1.0 means "decided by review"; the rules' own is in rules_now.
    data.update(home=review.home, lead=review.lead, other_sg=review.other_sg, questions=list(review.questions),
                flags=[f.model_dump() for f in flags], confidence=1.0, reviewed=True, review=review.model_dump(),
                rules_now=rules_now.model_dump())
    return ReviewedDecision.model_validate(data)


def record(log_: DecisionLog | None, proposal: Proposal, decision: Decision, rs: RuleSet | None, actor: str,
           write: bool = True) -> tuple[ReviewedDecision, LogNote]:
    """Record one decision and apply any review; blocking (call from a thread in async code)."""
    if log_ is None:
        return apply_review(decision, None), "off"
    try:
        logged = log_.record(proposal, decision, actor, write=write)
    except (LogUnavailable, Exception) as exc:  # noqa: B014 - any database failure: answer anyway
        log.warning("decision %s not logged: %s", decision.decision_id, exc)
        return apply_review(decision, None), "failed"
    answer = apply_review(decision.model_copy(update={"decision_id": logged.decision_id}), logged.review, rs)
    if not write:
        return answer, "off"
    return answer, "recorded" if logged.created else "existing"


def decide(log_: DecisionLog | None, proposal: Proposal, rs: RuleSet, registry: Any, actor: str,
           write: bool = True) -> tuple[ReviewedDecision, LogNote]:
    """Triage one proposal and record it: the blocking form used by the command line and pages."""
    return record(log_, proposal, triage(proposal, rs, registry), rs, actor, write)


async def decide_async(log_: DecisionLog | None, proposal: Proposal, rs: RuleSet, registry: Any, actor: str,
                       write: bool = True) -> tuple[ReviewedDecision, LogNote]:
    """Triage in the event loop (fast, CPU only), then the database work in the threadpool."""
    decision = triage(proposal, rs, registry)
    if log_ is None:
        return apply_review(decision, None), "off"
    if not write:
        # Nothing to store: only a review could change the answer, and the index knows if one may exist.
        try:
            if log_.reviewed_index_stale():
                await run_in_threadpool(log_.may_have_review, "", None)  # refresh the index off the loop
            # Hash the proposal only when some review exists at all.
            maybe = log_.any_review() and log_.may_have_review(proposal.reference, proposal_hash(proposal))
        except Exception as exc:  # noqa: BLE001 - the log unreachable: answer with the rules
            log.warning("decision %s: review lookup failed: %s", decision.decision_id, exc)
            return apply_review(decision, None), "failed"
        if not maybe:
            return apply_review(decision, None), "off"
    return await run_in_threadpool(record, log_, proposal, decision, rs, actor, write)


async def record_many_async(log_: DecisionLog | None, items: list[tuple[Proposal, Decision]], rs: RuleSet, actor: str,
                            write: bool = True) -> tuple[list[ReviewedDecision], LogNote]:
    """Record a batch's decisions (one transaction each) in one trip to the threadpool."""
    if log_ is None:
        return [apply_review(d, None) for _, d in items], "off"

    def work() -> tuple[list[ReviewedDecision], LogNote]:
        out: list[ReviewedDecision] = []
        notes: set[str] = set()
        for proposal, decision in items:
            answer, note = record(log_, proposal, decision, rs, actor, write)
            out.append(answer)
            notes.add(note)
        return out, ("failed" if "failed" in notes else "off" if notes == {"off"} else "recorded")

    return await run_in_threadpool(work)


def log_for_app(state: Any) -> tuple[DecisionLog | None, bool]:
    """(log, write): the log to consult, and whether to write to it (IOTSEC_LOG_DECISIONS)."""
    try:
        return get_log(state), bool(getattr(state.settings, "log_decisions", True))
    except Exception as exc:  # a malformed database URL: answer without the log
        log.warning("decision log not available: %s", exc)
        return None, False
