"""Group commit: a batch's new rows inserted together, every other item answered as when alone
(a row that exists, a review to carry, a second copy of an item in the same batch), and the
writer that waits for decisions still being made but never holds a lone caller."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import bindparam, false, literal_column, select

from api.decision_log import DecisionLog, Logged, ReviewRequest, decide
from api.decision_log import flow as flow_module
from api.decision_log import service as service_module
from api.decision_log.models import DecisionRow
from api.decision_log.service import wait_logged
from engine import Decision, Proposal, RuleSet, triage
from tests.api._db import db_url  # noqa: F401  (fixture)


def _proposal(n: int, reference: str = "") -> Proposal:
    return Proposal(
        title=f"Security requirements for smart irrigation gateways, variant {n}",
        reference=reference,
        summary="Threats to irrigation controllers on farms.",
    )


def _sizes(log: DecisionLog) -> list[int]:
    """The sizes of the batches the writer commits from now on."""
    sizes: list[int] = []
    inner = log._write_batch

    def spy(batch: list[Any]) -> None:
        sizes.append(len(batch))
        inner(batch)

    log._write_batch = spy  # type: ignore[method-assign]
    return sizes


def test_a_mixed_batch_answers_each_item_as_alone(
    db_url: str, ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The batch is held by the open ticket, not by the default wait (a loaded machine may take longer).
    monkeypatch.setattr(service_module, "GROUP_LINGER_SECONDS", 60.0)
    log = DecisionLog(db_url)
    stored = _proposal(1)
    (stored_answer, _) = decide(log, stored, ruleset, None, "api")
    reviewed = _proposal(2, reference="Y.reviewed")
    (reviewed_answer, _) = decide(log, reviewed, ruleset, None, "api")
    log.review(
        reviewed_answer.decision_id,
        ReviewRequest(action="override", home="SG20", reviewer="Staff", reason="An IoT platform item."),
    )
    # Another text of the same contribution (same reference, the same work): the review stands for it.
    revised = _proposal(2, reference="Y.reviewed").model_copy(update={"summary": "A revised summary."})
    new, twin = _proposal(3), _proposal(4)
    items = [new, stored, revised, twin, twin]
    decisions = {id(p): triage(p, ruleset, None) for p in items}
    sizes = _sizes(log)
    with log.deciding():  # held until all are queued: the writer waits, and takes them as one batch
        futures: list[Future[Logged]] = [log.submit(p, decisions[id(p)], "api") for p in items]
    got = [wait_logged(f) for f in futures]
    assert sizes == [5]
    assert [g.created for g in got] == [True, False, True, True, False]
    assert got[0].decision_id == decisions[id(new)].decision_id and got[0].review is None
    assert got[1].decision_id == stored_answer.decision_id  # the row that stands
    assert got[2].review is not None and got[2].review.home == "SG20"  # carried onto the new row
    assert got[3].review is None and got[4].decision_id == got[3].decision_id  # one row for the twins
    assert log.count() == 5  # stored, reviewed, new, revised, twin
    rec = log.get(got[2].decision_id)
    assert rec is not None and rec.status == "overridden" and rec.final_home == "SG20"
    assert rec.proposal == revised.model_dump(mode="json")
    fresh = log.get(got[0].decision_id)
    assert fresh is not None and fresh.result == decisions[id(new)].model_dump(mode="json")
    assert Decision.model_validate(fresh.result) == decisions[id(new)]
    log.close()


@pytest.fixture
def lingering_log(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[DecisionLog]:
    """A SQLite log whose writer would wait a minute for decisions still being made: far longer
    than any commit timeout below, so a writer that waited when it should not fails the test."""
    monkeypatch.setattr(service_module, "GROUP_LINGER_SECONDS", 60.0)
    log = DecisionLog(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    yield log
    log.close()


def test_a_lone_caller_is_not_held_back(lingering_log: DecisionLog, ruleset: RuleSet) -> None:
    # Nothing else is being decided: the writer commits at once.
    p = _proposal(1)
    done = lingering_log.submit(p, triage(p, ruleset, None), "api")
    assert done.result(timeout=20).created


def test_the_last_decision_to_finish_wakes_a_waiting_writer(lingering_log: DecisionLog, ruleset: RuleSet) -> None:
    log = lingering_log
    sizes = _sizes(log)
    a, b = _proposal(1), _proposal(2)
    with log.deciding():
        first = log.submit(a, triage(a, ruleset, None), "api")
        with log.deciding():
            second = log.submit(b, triage(b, ruleset, None), "api")
    # The writer waited while a decision was in progress, and was woken when none was left.
    assert first.result(timeout=20).created and second.result(timeout=20).created
    assert sizes == [2]


def test_a_request_is_still_expected_when_it_is_submitted(lingering_log: DecisionLog, ruleset: RuleSet) -> None:
    # The flow's own path (decide_async's worker): its ticket is closed once the decision is
    # queued, not before, so a writer waiting for it commits it with the batch it waits for.
    log = lingering_log
    sizes = _sizes(log)
    expected_at_submit: list[int] = []
    inner = log.submit

    def spy(*args: Any, **kwargs: Any) -> Future[Logged]:
        expected_at_submit.append(log._in_progress)
        return inner(*args, **kwargs)

    log.submit = spy  # type: ignore[method-assign]
    a, b = _proposal(1), _proposal(2)
    waiting = log.expect()  # another request on its way: the writer holds `a` for it
    first = log.submit(a, triage(a, ruleset, None), "api")
    ticket = log.expect()  # the request the flow decides
    waiting.close()
    decision, second = flow_module._decide_or_submit(log, b, ruleset, None, "api", True, None, ticket)
    assert isinstance(second, Future)
    assert first.result(timeout=20).created and second.result(timeout=20).created
    assert expected_at_submit == [1, 1]  # b was still counted when it was queued
    assert sizes == [2] and log._in_progress == 0


def test_expect_does_not_wait_for_a_migration(tmp_path: Any) -> None:
    # ensure_ready() holds the log's lock while it migrates (a database down: a connect timeout);
    # expect() runs on the event loop and must not wait for it.
    log = DecisionLog(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    done = threading.Event()

    def expect() -> None:
        log.expect().close()
        done.set()

    with log._lock:  # as during a migration
        worker = threading.Thread(target=expect, daemon=True)
        worker.start()
        counted = done.wait(timeout=20)
    worker.join(timeout=20)
    assert counted
    log.close()


@pytest.mark.parametrize("size", [1, 3])
def test_a_row_stored_by_another_writer_meanwhile_stands(
    db_url: str, ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    # Another process stores a proposal between this writer's query and its insert: the insert
    # conflicts, and the item is answered with the row that stands ("existing"), the others as new.
    other, log = DecisionLog(db_url), DecisionLog(db_url)
    raced = _proposal(1)
    (stood, _) = decide(other, raced, ruleset, None, "api")
    blind = select(literal_column("'d'"), DecisionRow.proposal_hash, DecisionRow.rule_revision).where(
        DecisionRow.proposal_hash.in_(bindparam("digests", expanding=True)), false()
    )
    monkeypatch.setattr(service_module, "_FOUND", blind)  # the query sees nothing stored yet
    items = [raced, *(_proposal(n) for n in range(2, size + 1))]
    with log.deciding():
        futures = [log.submit(p, triage(p, ruleset, None), "api") for p in items]
    got = [wait_logged(f) for f in futures]
    assert got[0].decision_id == stood.decision_id and not got[0].created
    assert all(g.created for g in got[1:])
    assert log.count() == size
    log.close()
    other.close()
