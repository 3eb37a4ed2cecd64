"""Triage with the decision log: the one function the doors (HTTP, pages, batch) call to decide.

It triages, then records the decision and finds a person's review of the same contribution in
the transaction of its batch (group commit, api/decision_log/service.py); a review that exists
decides (never silently overruled), with the rules' current answer beside it. "recorded" is said
only once that transaction is committed: on SQLite (WAL, synchronous=NORMAL) the decision then
survives a killed process, not a power cut. A log that cannot be reached never stops an answer:
the note says so. The async form waits for the commit without holding a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal

from api.decision_log.review import apply_review
from api.decision_log.schemas import ReviewedDecision
from engine import Decision, Proposal, RuleSet, triage

if TYPE_CHECKING:  # imported where used: a door that does not log never loads SQLAlchemy or anyio
    from anyio import CapacityLimiter

    from api.decision_log.service import DecisionLog, Expected, Logged

log = logging.getLogger("iotsec_triage.decision_log")
COMMIT_WAIT = 30.0  # seconds an answer waits for its commit before it says "failed"
LogNote = Literal["recorded", "existing", "off", "failed"]
# How a door decides: engine.triage, or the service's Runtime.triage (in a decider process).
Triage = Callable[[Proposal, RuleSet, Any], Decision]


def record(
    log_: DecisionLog | None,
    proposal: Proposal,
    decision: Decision,
    rs: RuleSet | None,
    actor: str,
    write: bool = True,
    *,
    item_id: str | None = None,
) -> tuple[ReviewedDecision, LogNote]:
    """Record one decision and apply any review; blocking (call from a thread in async code).
    `item_id`: the item's own id when the door has one (a file's id column), stored with the decision."""
    if log_ is None:
        return apply_review(decision, None), "off"
    if not write:
        try:
            logged = log_.record(proposal, decision, actor, write=False)
        except Exception as exc:  # noqa: BLE001 - any database failure: answer anyway
            return _unlogged(decision, exc)
        return _answer(decision, logged, rs, write=False)
    return settle(decision, log_.submit(proposal, decision, actor, item_id=item_id), rs)


def _unlogged(decision: Decision, exc: BaseException) -> tuple[ReviewedDecision, LogNote]:
    log.warning("decision %s not logged: %s", decision.decision_id, exc)
    return apply_review(decision, None), "failed"


def _answer(
    decision: Decision, logged: Logged, rs: RuleSet | None, write: bool = True
) -> tuple[ReviewedDecision, LogNote]:
    if logged.decision_id != decision.decision_id:  # a row that stands: its id, not this decision's
        decision = decision.model_copy(update={"decision_id": logged.decision_id})
    answer = apply_review(decision, logged.review, rs)
    if not write:
        return answer, "off"
    return answer, "recorded" if logged.created else "existing"


def settle(decision: Decision, done: Future[Logged], rs: RuleSet | None) -> tuple[ReviewedDecision, LogNote]:
    """The answer once a submitted write is committed (blocking)."""
    from api.decision_log.service import wait_logged

    try:
        logged = wait_logged(done)
    except Exception as exc:  # noqa: BLE001 - any database failure: answer anyway
        return _unlogged(decision, exc)
    return _answer(decision, logged, rs)


def decide(
    log_: DecisionLog | None,
    proposal: Proposal,
    rs: RuleSet,
    registry: Any,
    actor: str,
    write: bool = True,
    *,
    item_id: str | None = None,
    triage_with: Triage = triage,
) -> tuple[ReviewedDecision, LogNote]:
    """Triage one proposal and record it: the blocking form used by the command line and pages."""
    return record(log_, proposal, triage_with(proposal, rs, registry), rs, actor, write, item_id=item_id)


def decide_indexed(
    log_: DecisionLog | None,
    proposal: Proposal,
    rs: RuleSet,
    registry: Any,
    actor: str,
    write: bool = True,
    item_id: str | None = None,
    triage_with: Triage = triage,
) -> tuple[ReviewedDecision, LogNote]:
    """Triage one proposal and record it, blocking; with write=False the review index spares the
    database trip when no review of this contribution can exist (the service's hot path)."""
    decision = triage_with(proposal, rs, registry)
    if log_ is None:
        return apply_review(decision, None), "off"
    if not write:
        from api.decision_log.service import proposal_hash

        try:
            # Hash the proposal only when some review exists at all (the first call refreshes a stale index).
            maybe = log_.may_have_review("", None) and log_.may_have_review(proposal.reference, proposal_hash(proposal))
        except Exception as exc:  # noqa: BLE001 - the log unreachable: answer with the rules
            log.warning("decision %s: review lookup failed: %s", decision.decision_id, exc)
            return apply_review(decision, None), "failed"
        if not maybe:
            return apply_review(decision, None), "off"
    return record(log_, proposal, decision, rs, actor, write, item_id=item_id)


def _decide_or_submit(
    log_: DecisionLog | None,
    proposal: Proposal,
    rs: RuleSet,
    registry: Any,
    actor: str,
    write: bool,
    item_id: str | None = None,
    ticket: Expected | None = None,
    triage_with: Triage = triage,
) -> tuple[ReviewedDecision, LogNote] | tuple[Decision, Future[Logged]]:
    """In a worker thread: decide, and either answer (nothing to write) or queue the write."""
    if log_ is None or not write:
        return decide_indexed(log_, proposal, rs, registry, actor, write, item_id, triage_with)
    try:
        decision = triage_with(proposal, rs, registry)
        return decision, log_.submit(proposal, decision, actor, item_id=item_id)  # blocks while the queue is full
    finally:
        if ticket is not None:
            # Closed once submitted (or failed): closed before, the writer could commit the batch
            # it waits for without this decision, which would then commit alone.
            ticket.close()


async def decide_async(
    log_: DecisionLog | None,
    proposal: Proposal,
    rs: RuleSet,
    registry: Any,
    actor: str,
    write: bool = True,
    limiter: CapacityLimiter | None = None,
    item_id: str | None = None,
    triage_with: Triage = triage,
) -> tuple[ReviewedDecision, LogNote]:
    """decide_indexed in a worker thread (`limiter` bounds how many at once): deciding is CPU work,
    and on the event loop it would hold every other request for as long as it takes. The commit
    is awaited after the thread is given back: requests waiting for the writer hold no thread,
    and the writer commits them together."""
    import anyio.to_thread

    # Counted from now, while it waits for a thread too: under load the writer waits for it a little.
    ticket = log_.expect() if log_ is not None and write else None
    try:
        first, second = await anyio.to_thread.run_sync(
            _decide_or_submit,
            log_,
            proposal,
            rs,
            registry,
            actor,
            write,
            item_id,
            ticket,
            triage_with,
            limiter=limiter,
        )
    finally:
        if ticket is not None:
            ticket.close()
    if not isinstance(second, Future):
        return first, second  # type: ignore[return-value]
    decision: Decision = first
    try:
        logged = await asyncio.wait_for(asyncio.wrap_future(second), COMMIT_WAIT)
    except Exception as exc:  # noqa: BLE001 - any database failure (or no commit in time): answer anyway
        return _unlogged(decision, exc)
    return _answer(decision, logged, rs)


async def record_many_async(
    log_: DecisionLog | None, items: list[tuple[Proposal, Decision]], rs: RuleSet, actor: str, write: bool = True
) -> tuple[list[ReviewedDecision], LogNote]:
    """Record a batch's decisions (one transaction each) in one trip to the threadpool."""
    if log_ is None:
        return [apply_review(d, None) for _, d in items], "off"
    from starlette.concurrency import run_in_threadpool

    def work() -> tuple[list[ReviewedDecision], LogNote]:
        out: list[ReviewedDecision] = []
        notes: set[str] = set()
        for proposal, decision in items:
            answer, note = record(log_, proposal, decision, rs, actor, write)
            out.append(answer)
            notes.add(note)
        return out, ("failed" if "failed" in notes else "off" if notes == {"off"} else "recorded")

    return await run_in_threadpool(work)
