"""Triage with the decision log: the one function the doors (HTTP, pages, batch) call to decide.

It triages, then in one transaction records the decision and finds a person's review of the same
contribution; a review that exists decides (never silently overruled), with the rules' current
answer beside it. A log that cannot be reached never stops an answer: the note says so.
"""
from __future__ import annotations

import logging
from typing import Any, Literal

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.concurrency import run_in_threadpool

from api.decision_log.review import apply_review
from api.decision_log.schemas import ReviewedDecision
from api.decision_log.service import DecisionLog, LogUnavailable, proposal_hash
from engine import Decision, Proposal, RuleSet, triage

log = logging.getLogger("iotsec_triage.decision_log")
LogNote = Literal["recorded", "existing", "off", "failed"]


def record(log_: DecisionLog | None, proposal: Proposal, decision: Decision, rs: RuleSet | None, actor: str,
           write: bool = True, *, item_id: str | None = None) -> tuple[ReviewedDecision, LogNote]:
    """Record one decision and apply any review; blocking (call from a thread in async code).
    `item_id`: the item's own id when the door has one (a file's id column), stored with the decision."""
    if log_ is None:
        return apply_review(decision, None), "off"
    try:
        logged = log_.record(proposal, decision, actor, write=write, item_id=item_id)
    except (LogUnavailable, Exception) as exc:  # noqa: B014 - any database failure: answer anyway
        log.warning("decision %s not logged: %s", decision.decision_id, exc)
        return apply_review(decision, None), "failed"
    answer = apply_review(decision.model_copy(update={"decision_id": logged.decision_id}), logged.review, rs)
    if not write:
        return answer, "off"
    return answer, "recorded" if logged.created else "existing"


def decide(log_: DecisionLog | None, proposal: Proposal, rs: RuleSet, registry: Any, actor: str,
           write: bool = True, *, item_id: str | None = None) -> tuple[ReviewedDecision, LogNote]:
    """Triage one proposal and record it: the blocking form used by the command line and pages."""
    return record(log_, proposal, triage(proposal, rs, registry), rs, actor, write, item_id=item_id)


def decide_indexed(log_: DecisionLog | None, proposal: Proposal, rs: RuleSet, registry: Any, actor: str,
                   write: bool = True, item_id: str | None = None) -> tuple[ReviewedDecision, LogNote]:
    """Triage one proposal and record it, blocking; with write=False the review index spares the
    database trip when no review of this contribution can exist (the service's hot path)."""
    decision = triage(proposal, rs, registry)
    if log_ is None:
        return apply_review(decision, None), "off"
    if not write:
        try:
            # Hash the proposal only when some review exists at all (the first call refreshes a stale index).
            maybe = log_.may_have_review("", None) and log_.may_have_review(proposal.reference, proposal_hash(proposal))
        except Exception as exc:  # noqa: BLE001 - the log unreachable: answer with the rules
            log.warning("decision %s: review lookup failed: %s", decision.decision_id, exc)
            return apply_review(decision, None), "failed"
        if not maybe:
            return apply_review(decision, None), "off"
    return record(log_, proposal, decision, rs, actor, write, item_id=item_id)


async def decide_async(log_: DecisionLog | None, proposal: Proposal, rs: RuleSet, registry: Any, actor: str,
                       write: bool = True, limiter: CapacityLimiter | None = None,
                       item_id: str | None = None) -> tuple[ReviewedDecision, LogNote]:
    """decide_indexed in a worker thread (`limiter` bounds how many at once): deciding is CPU work,
    and on the event loop it would hold every other request for as long as it takes."""
    return await anyio.to_thread.run_sync(decide_indexed, log_, proposal, rs, registry, actor, write, item_id, limiter=limiter)


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
