"""The decision log service: the one place that writes decisions and reviews, and reads them back.

Writes go through group commit: one writer thread per DecisionLog takes pending decisions from a
bounded queue and stores them in one transaction per batch (what queued while the last batch was
being committed, up to GROUP_MAX items; while other decisions to be logged are still being made,
the writer waits up to GROUP_LINGER_SECONDS for them, never when a caller is alone). New rows are
found with one query for the whole batch and inserted with one executemany; an item with a row
already stored or a review to consider goes alone, in a savepoint of its own (one item's failure
is that item's alone). A caller waits for the commit of ITS batch before it answers: "recorded"
means committed. When the queue is full a caller waits for room (backpressure); nothing is dropped.
What "committed" survives: on SQLite (WAL, synchronous=NORMAL) a killed process (kill -9, a crash
of the service), not a power cut or an operating-system crash, which may lose the last commits; on
PostgreSQL what its own synchronous_commit setting promises (durable at commit by default).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import Engine, bindparam, case, func, insert, literal_column, or_, select, union_all
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from api.decision_log.database import RawJson, make_engine, migrate, session_factory
from api.decision_log.models import DecisionRow, ReviewRow
from api.decision_log.schemas import DecisionFilter, DecisionPage, DecisionRecord, ReviewInfo, ReviewRequest
from engine.errors import TriageError
from engine.models import Decision, Proposal

log = logging.getLogger("iotsec_triage.decision_log")
_INSERT = insert(DecisionRow)  # Core inserts of new rows: no ORM objects
RETRY_AFTER_SECONDS = 5.0
# The queue's order of need: what a person must look at first. OVERLAP_EXISTING_WORK is on most
# items and orders nothing; a confidence below LOW_CONFIDENCE is "low".
LOW_CONFIDENCE = 0.6
# Two titles name the same work when this share of their content words is common (Jaccard).
SAME_WORK_TITLE = 0.6
_STOP = frozenset(
    "a an and as at by for from in into of on or the to under with within via its their this that".split()
)


class LogUnavailable(TriageError):
    """The decision log's database cannot be reached or migrated. The message is safe to show
    (it names no URL or path); `detail` says which database and why, for the server's own log."""

    def __init__(self, detail: str) -> None:
        super().__init__("decision log unavailable: decisions are answered but not recorded; retry shortly")
        self.detail = detail


class NotFound(TriageError, LookupError):
    """No decision with that id."""


def canonical_json(proposal: Proposal) -> str:
    """The proposal as canonical JSON: every field (defaults too), keys sorted, no spaces."""
    return json.dumps(proposal.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def proposal_hash(proposal: Proposal) -> str:
    """sha256 of the canonical JSON: the same contribution, however it was sent, has one hash."""
    return _digest(canonical_json(proposal))


def _digest(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def title_words(title: str) -> frozenset[str]:
    """The content words of a title: lower case, letters and digits, stop words left out."""
    words = "".join(c if c.isalnum() else " " for c in title.lower()).split()
    return frozenset(w for w in words if w not in _STOP)


def same_work(title_a: str, title_b: str) -> bool:
    """Whether two titles name the same work: at least SAME_WORK_TITLE of their content words in
    common (Jaccard). A revised summary or a title with a word added or dropped stays the same work;
    another item that borrowed a provisional name does not."""
    a, b = title_words(title_a), title_words(title_b)
    if not a or not b:
        return title_a.strip().lower() == title_b.strip().lower()
    return len(a & b) / len(a | b) >= SAME_WORK_TITLE


def _item_id(item_id: str | None) -> str | None:
    """The item's own id as stored (its column holds 100 characters), None when there is none."""
    return item_id[:100] if item_id else None


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _review_info(row: ReviewRow, decision_id: str) -> ReviewInfo:
    # Validated: the row's plain strings become the model's literals (action, home, lead).
    return ReviewInfo.model_validate(
        {
            "review_id": row.id,
            "decision_id": decision_id,
            "action": row.action,
            "home": row.home,
            "lead": row.lead,
            "other_sg": row.other_sg,
            "questions": list(row.questions),
            "reason": row.reason,
            "reviewer": row.reviewer,
            "reviewed_at": _utc(row.created_at),
            "inherited_from": row.inherited_from,
        }
    )


def need_rank() -> Any:
    """The queue's order of need, as one SQL expression (lower first): NEEDS_REVIEW, JOINT_WORK,
    low confidence, COORDINATE_Q6_17_Q6_20, then the rest."""
    return case(
        (DecisionRow.flag_codes.contains(",NEEDS_REVIEW,"), 0),
        (DecisionRow.flag_codes.contains(",JOINT_WORK,"), 1),
        (DecisionRow.confidence < LOW_CONFIDENCE, 2),
        (DecisionRow.flag_codes.contains(",COORDINATE_Q6_17_Q6_20,"), 3),
        else_=4,
    )


def need_of(flags: list[str], confidence: float) -> int:
    """need_rank() for one decision, in Python (the same order)."""
    if "NEEDS_REVIEW" in flags:
        return 0
    if "JOINT_WORK" in flags:
        return 1
    if confidence < LOW_CONFIDENCE:
        return 2
    return 3 if "COORDINATE_Q6_17_Q6_20" in flags else 4


def _record(row: DecisionRow, reference_reviews: list[str] | None = None) -> DecisionRecord:
    return DecisionRecord(
        reference_reviews=reference_reviews or [],
        decision_id=row.decision_id,
        reference=row.reference,
        item_id=row.item_id,
        proposal_hash=row.proposal_hash,
        title=row.title,
        proposal=row.proposal,
        result=row.result,
        home=row.home,
        lead=row.lead,
        confidence=row.confidence,
        flags=[c for c in row.flag_codes.split(",") if c],
        rule_revision=row.rule_revision,
        rule_version=row.rule_version,
        actor=row.actor,
        created_at=_utc(row.created_at),
        status=row.status,  # type: ignore[arg-type]
        final_home=row.final_home,
        reviews=[_review_info(r, row.decision_id) for r in row.reviews],
    )


def _why(exc: BaseException) -> str:
    """A failed write, said without SQL, parameters or paths: the driver's error class and, when it
    names no path, its first line (e.g. "OperationalError: database or disk is full")."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).splitlines()[0][:100] if str(orig) else ""
    return f"{type(orig).__name__}: {text}" if text and "/" not in text and "\\" not in text else type(orig).__name__


@dataclass(frozen=True)
class Logged:
    """What recording one decision did: the id that stands, whether a row was added, any review."""

    decision_id: str
    created: bool
    review: ReviewInfo | None


# What the writer asks once per batch: the rows stored of these proposals (under any rules), and
# the reviews of the same hashes or references. One statement, built once.
_FOUND: Any = union_all(
    select(literal_column("'d'"), DecisionRow.proposal_hash, DecisionRow.rule_revision).where(
        DecisionRow.proposal_hash.in_(bindparam("digests", expanding=True))
    ),
    select(literal_column("'r'"), ReviewRow.proposal_hash, ReviewRow.reference).where(
        or_(
            ReviewRow.proposal_hash.in_(bindparam("digests", expanding=True)),
            ReviewRow.reference.in_(bindparam("references", expanding=True)),
        )
    ),
)
# Reviews recorded by another process are seen by this one within this many seconds.
REVIEW_INDEX_SECONDS = 2.0
# Group commit: at most this many decisions per transaction; at most QUEUE_MAX waiting for one.
GROUP_MAX = 64
QUEUE_MAX = 1024
# Under load, the longest the writer waits for decisions still being made to join a batch: each
# commit costs about a millisecond of CPU whatever its size, so a batch of several pays it once.
GROUP_LINGER_SECONDS = 0.008
# A caller waits this long for its commit before it answers "failed" (a database that hangs).
COMMIT_TIMEOUT_SECONDS = 30.0


@dataclass
class _Pending:
    proposal: Proposal
    decision: Decision
    actor: str
    digest: str
    done: Future[Logged]
    item_id: str | None = None
    canonical: str | None = None  # the proposal's canonical JSON, stored as it is in a new row


class _Wake:
    """Queued to wake a writer that waits for decisions still being made, when none is left."""


_WAKE = _Wake()


class Expected:
    """A decision on its way to the writer (DecisionLog.expect); close() once it is submitted,
    or will not be. Closing twice is closing once."""

    def __init__(self, log_: DecisionLog) -> None:
        self._log = log_
        self._open = True
        self._guard = threading.Lock()

    def close(self) -> None:
        with self._guard:
            if not self._open:
                return
            self._open = False
        self._log._arrived()


class DecisionLog:
    """Decisions and reviews in one SQL database (SQLite file or PostgreSQL); every write is one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self._sessions = session_factory(self.engine)
        self._ready = False
        self._failed_at = 0.0
        self._lock = threading.Lock()
        self.last_error: str | None = None
        # Which contributions have a review: (proposal hashes, references), and when it was read.
        self._reviewed: tuple[set[str], set[str]] | None = None
        self._reviewed_at = 0.0
        # A SQLite file is watched: the (device, inode) it was opened as, so that a file deleted,
        # moved or replaced under the service is noticed, not written to unseen (and lost at restart).
        database = self.engine.url.database if self.engine.url.get_backend_name() == "sqlite" else None
        self._file = database if database and database != ":memory:" and not database.startswith("file:") else None
        self._identity: tuple[int, int] | None = None
        # Why the last write failed (disk full, read-only...), until a write succeeds again.
        self.write_failure: str | None = None
        # Group commit: the bounded queue of pending writes and its one writer thread (started on first use).
        self._pending: queue.Queue[_Pending | _Wake | None] = queue.Queue(maxsize=QUEUE_MAX)
        self._writer: threading.Thread | None = None
        self._in_progress = 0  # decisions being made that will be submitted (see expect())
        self._lingering = False  # the writer waits for them
        # Guards the two above, and only them: expect() runs on the event loop, so it must never wait
        # for self._lock, which ensure_ready() holds through a migration (a database down: seconds).
        self._counting = threading.Lock()
        self._closed = False

    def ensure_ready(self) -> None:
        """Migrate once (upgrade head); after a failure, retry at most every few seconds."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if self._failed_at and time.monotonic() - self._failed_at < RETRY_AFTER_SECONDS:
                raise LogUnavailable(self.last_error or "")
            try:
                migrate(self.engine)
            except Exception as exc:  # any driver or migration failure means "not available"
                self._failed_at = time.monotonic()
                self.last_error = (
                    f"{self.engine.url.render_as_string(hide_password=True)}: {type(exc).__name__}: {exc}".splitlines()[
                        0
                    ]
                )
                raise LogUnavailable(self.last_error) from exc
            self._ready = True
            self._failed_at = 0.0
            self.last_error = None
            if self._file is not None:
                st = os.stat(self._file)
                self._identity = (st.st_dev, st.st_ino)

    def file_problem(self) -> str | None:
        """Why the SQLite file at the configured path is not the one this log writes to, else None."""
        if self._file is None or self._identity is None:
            return None
        try:
            st = os.stat(self._file)
        except OSError:
            return "the SQLite file was deleted or moved while serving"
        if (st.st_dev, st.st_ino) != self._identity:
            return "the SQLite file was replaced while serving; restart the service to log again"
        return None

    def _check_file(self) -> None:
        problem = self.file_problem()
        if problem is not None:
            # Never open the path again: SQLite would make a new empty file there (or read a stranger's).
            self.last_error = problem
            raise LogUnavailable(problem)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A session; a database that went away after start-up surfaces as LogUnavailable."""
        self.ensure_ready()
        self._check_file()
        try:
            with self._sessions() as session:
                yield session
        except (OperationalError, InterfaceError) as exc:
            self.last_error = (
                f"{self.engine.url.render_as_string(hide_password=True)}: {type(exc).__name__}".splitlines()[0]
            )
            raise LogUnavailable(self.last_error) from exc

    @property
    def display_url(self) -> str:
        """Where the log is, for the operator (the password hidden)."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Write what is pending, stop the writer thread and release the connection pool."""
        self._closed = True
        writer = self._writer
        if writer is not None and writer.is_alive():
            self._pending.put(None)
            writer.join(COMMIT_TIMEOUT_SECONDS)
        self.engine.dispose()

    def health(self) -> str | None:
        """None when the log can be read now, else why not (naming no URL or path)."""
        try:
            self.ensure_ready()
            problem = self.file_problem()
            if problem is not None:
                return problem
            with self.engine.connect() as conn:
                conn.execute(select(DecisionRow.id).limit(1))
        except Exception as exc:  # any failure means "not available"; triage answers without the log
            return f"the database cannot be reached ({type(exc.__cause__ or exc).__name__})"
        if self.write_failure is not None:
            return f"writes are failing ({self.write_failure})"
        return None

    # -- the review index: most triages have no review, and need not ask the database ----------

    def reviewed_index_stale(self) -> bool:
        """Whether may_have_review() would read the database (call it from a thread then)."""
        return self._reviewed is None or time.monotonic() - self._reviewed_at > REVIEW_INDEX_SECONDS

    def any_review(self) -> bool:
        """Whether any review exists at all (as fresh as may_have_review; read it after that)."""
        return self._reviewed is None or bool(self._reviewed[0] or self._reviewed[1])

    def may_have_review(self, reference: str, digest: str | None) -> bool:
        """False only when no review of this contribution exists (as of at most a few seconds ago,
        for reviews recorded by other processes; at once for this process's own). A digest of
        None asks whether any review exists."""
        if self.reviewed_index_stale():
            with self._session() as session:
                rows = session.execute(select(ReviewRow.proposal_hash, ReviewRow.reference)).all()
            self._reviewed = ({h for h, _ in rows}, {r for _, r in rows if r})
            self._reviewed_at = time.monotonic()
        assert self._reviewed is not None
        hashes, references = self._reviewed
        if digest is None:
            return bool(hashes or references)
        return digest in hashes or bool(reference and reference in references)

    def _note_reviewed(self, reference: str, digest: str) -> None:
        if self._reviewed is not None:
            self._reviewed[0].add(digest)
            if reference:
                self._reviewed[1].add(reference)

    # -- writing -------------------------------------------------------------------------------

    def record(
        self, proposal: Proposal, decision: Decision, actor: str, *, write: bool = True, item_id: str | None = None
    ) -> Logged:
        """Store one decision (once per proposal hash and rule revision) and find the review that stands;
        blocking until the decision's batch is committed (submit() is the non-blocking form).

        A review stands for the same content (same hash), or the same reference with a title that
        names the same work (`same_work`). When it was made on another decision, it is carried
        onto this one in the same transaction, so the log says what the answer says.
        With write=False nothing is stored, but a review of the same contribution is still found.
        Raises LogUnavailable when the write did not reach the configured database (its file
        replaced or deleted meanwhile): nothing is reported as stored that is not.
        `item_id` is the item's own id when the door has one (stored; an existing row without one gets it).
        """
        if not write:
            return self._record(proposal, decision, actor, write=False)
        return wait_logged(self.submit(proposal, decision, actor, item_id=item_id))

    def submit(
        self, proposal: Proposal, decision: Decision, actor: str, *, item_id: str | None = None
    ) -> Future[Logged]:
        """Queue one decision for the writer thread; the future holds what record() returns once
        its batch is committed (or the exception). Blocks while the queue is full (backpressure)."""
        done: Future[Logged] = Future()
        try:
            self.ensure_ready()  # the file is checked by the writer, before and after each commit
            if self._closed:
                raise LogUnavailable("the decision log is closed")
            canonical = canonical_json(proposal)
            pending = _Pending(proposal, decision, actor, _digest(canonical), done, item_id, canonical)
            self._start_writer()
        except Exception as exc:  # noqa: BLE001 - said through the future, as a failed write is
            done.set_exception(exc)
            return done
        self._pending.put(pending)
        return done

    def _start_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="decision-log-writer", daemon=True)
                self._writer.start()

    def expect(self) -> Expected:
        """Count a decision on its way to submit() (a request waiting for a thread, or being
        decided) until the ticket is closed: while any is on its way, the writer waits for it a
        little (GROUP_LINGER_SECONDS at most) rather than commit a batch without it."""
        with self._counting:
            self._in_progress += 1
        return Expected(self)

    @contextmanager
    def deciding(self) -> Iterator[None]:
        """expect() around a block that decides and submits."""
        ticket = self.expect()
        try:
            yield
        finally:
            ticket.close()

    def _arrived(self) -> None:
        with self._counting:
            self._in_progress -= 1
            wake = self._in_progress == 0 and self._lingering
        if wake:  # the last one the writer waited for did not come (it failed, or was not logged)
            try:
                self._pending.put_nowait(_WAKE)
            except queue.Full:
                pass  # a full queue wakes the writer by itself

    def _write_loop(self) -> None:
        """The writer thread: batches of pending decisions, one transaction each, until close()."""
        while True:
            first = self._pending.get()
            if first is None:
                return
            if isinstance(first, _Wake):
                continue
            batch = [first]
            stop = False
            # What queued while the last batch was committed joins this one; and while decisions
            # to be submitted are still being made (under load), the writer waits up to
            # GROUP_LINGER_SECONDS for them, so that one commit serves several requests. A lone
            # caller is not held back: nothing else is being decided then.
            linger_until = time.monotonic() + GROUP_LINGER_SECONDS
            while len(batch) < GROUP_MAX:
                try:
                    nxt = self._pending.get_nowait()
                except queue.Empty:
                    wait = linger_until - time.monotonic()
                    with self._counting:
                        self._lingering = lingering = self._in_progress > 0 and wait > 0
                    if not lingering:
                        break
                    try:
                        nxt = self._pending.get(timeout=wait)
                    except queue.Empty:
                        break
                    finally:
                        with self._counting:
                            self._lingering = False
                if nxt is None:
                    stop = True
                    break
                if not isinstance(nxt, _Wake):
                    batch.append(nxt)
            try:
                self._write_batch(batch)
            except BaseException as exc:  # noqa: BLE001 - never leave a caller waiting on a dead writer
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            if stop:
                return

    def _write_batch(self, batch: list[_Pending]) -> None:
        """One transaction for the batch; every future settled after the commit. When the
        transaction as a whole fails (a full disk rolls it all back), each item is written again in
        a transaction of its own, so that each answers for itself and says why."""
        if len(batch) == 1:
            self._settle(batch, self._commit(batch, nested=False))
            return
        outcome = self._commit(batch, nested=True)
        if isinstance(outcome, BaseException):
            for item in batch:
                self._settle([item], self._commit([item], nested=False))
        else:
            self._settle(batch, outcome)

    def _commit(self, batch: list[_Pending], *, nested: bool) -> list[Logged | BaseException] | BaseException:
        """Store the items in one transaction: what each did, or the exception that failed them all.

        The common items (a new proposal, no row of it under these rules, no review that could
        stand for it) are found with one query for the whole batch and inserted with one
        executemany; the others (a row that exists, a review to carry, a second copy in the batch)
        go one by one through _store, each in a savepoint of its own when `nested`."""
        results: dict[int, Logged | BaseException] = {}
        try:
            with self._session() as session, session.begin():
                sqlite = self.engine.url.get_backend_name() == "sqlite"
                if nested and sqlite:
                    # Take the write lock first (the busy timeout applies): what the batch reads
                    # below cannot change before it commits, and savepoints nest in one transaction.
                    session.connection().exec_driver_sql("BEGIN IMMEDIATE")
                fresh = self._fresh(session, batch)
                if fresh and (not nested or sqlite):
                    # One item alone, or SQLite under BEGIN IMMEDIATE (what the batch read cannot
                    # change before it commits): a conflict fails the transaction, then each item
                    # is written on its own. Elsewhere another writer may insert meanwhile: the
                    # items found new go through _store instead when their insert conflicts.
                    session.connection().execute(_INSERT, [row for _, row in fresh])
                elif fresh:
                    try:
                        with session.begin_nested():
                            session.connection().execute(_INSERT, [row for _, row in fresh])
                    except IntegrityError:
                        fresh = []  # another process stored one of them first: each goes the long way
                for i, row in fresh:
                    results[i] = Logged(row["decision_id"], True, None)
                for i, item in enumerate(batch):
                    if i in results:
                        continue
                    try:
                        if nested:
                            with session.begin_nested():
                                results[i] = self._store(
                                    session, item.proposal, item.decision, item.actor, item.digest, item.item_id
                                )
                        else:
                            results[i] = self._store(
                                session, item.proposal, item.decision, item.actor, item.digest, item.item_id
                            )
                    except IntegrityError:
                        if not nested:
                            raise
                        # Another writer stored the same proposal under the same rules first: that row stands.
                        results[i] = self._stored(session, item.proposal, item.decision, item.digest)
            self._check_file()  # committed, but into the file that is at the path now?
        except IntegrityError:
            if nested:
                return LogUnavailable("batch conflict")
            try:  # one item: another writer stored it first, and that row stands
                with self._session() as session, session.begin():
                    item = batch[0]
                    return [self._stored(session, item.proposal, item.decision, item.digest)]
            except Exception as exc:  # noqa: BLE001 - this item's failure
                return self._failed(exc)
        except Exception as exc:  # noqa: BLE001 - any database failure fails the transaction's items
            return self._failed(exc)
        self.write_failure = None
        return [results[i] for i in range(len(batch))]

    def _fresh(self, session: Session, batch: list[_Pending]) -> list[tuple[int, dict[str, Any]]]:
        """The batch's items that are simply new rows, as (position, row values): no row of the
        same proposal under the same rules, no review of the same hash or reference (any review
        found sends the item through _store, which decides whether it stands), first of its kind
        in the batch. One query, whatever the batch's size."""
        digests = sorted({item.digest for item in batch})
        references = sorted({item.proposal.reference for item in batch if item.proposal.reference})
        stored: set[tuple[str, str]] = set()
        reviewed: set[str] = set()
        for kind, digest, other in session.connection().execute(_FOUND, {"digests": digests, "references": references}):
            if kind == "d":
                stored.add((digest, other))
            else:
                reviewed.update((digest, other) if other else (digest,))
        reviewed.discard("")
        out: list[tuple[int, dict[str, Any]]] = []
        for i, item in enumerate(batch):
            key = (item.digest, item.decision.ruleset.revision)
            if key in stored or item.digest in reviewed or item.proposal.reference in reviewed:
                continue
            stored.add(key)  # a second copy in this batch finds this row through _store
            # The text that was hashed is the text stored: the proposal is not dumped again.
            canonical = item.canonical if item.canonical is not None else canonical_json(item.proposal)
            out.append(
                (i, self._new_values(item.proposal, item.digest, item.decision, item.actor, item.item_id, canonical))
            )
        return out

    def _failed(self, exc: BaseException) -> BaseException:
        if not (isinstance(exc, LogUnavailable) and exc.__cause__ is None):  # a file problem says itself
            self.write_failure = _why(exc.__cause__ or exc)
        return exc

    @staticmethod
    def _settle(batch: list[_Pending], outcome: list[Logged | BaseException] | BaseException) -> None:
        for i, item in enumerate(batch):
            result = outcome if isinstance(outcome, BaseException) else outcome[i]
            if isinstance(result, BaseException):
                item.done.set_exception(result)
            else:
                item.done.set_result(result)

    def _store(
        self,
        session: Session,
        proposal: Proposal,
        decision: Decision,
        actor: str,
        digest: str,
        item_id: str | None = None,
    ) -> Logged:
        """Store one decision in the open transaction (or find it stored) with the review that stands."""
        review = self._find_review(session, proposal.reference, proposal.title, digest)
        existing = session.scalar(
            select(DecisionRow)
            .where(DecisionRow.proposal_hash == digest, DecisionRow.rule_revision == decision.ruleset.revision)
            .options(selectinload(DecisionRow.reviews))
        )
        if existing is not None:
            if item_id and existing.item_id is None:  # item_id: the first id seen stays
                existing.item_id = _item_id(item_id)
            return Logged(existing.decision_id, False, self._standing(session, existing, review))
        row = self._new_row(proposal, digest, decision, actor, item_id)
        session.add(row)
        session.flush()
        if review is None:
            return Logged(row.decision_id, True, None)
        carried = self._carry_review(row, review)
        session.add(carried)
        session.flush()
        return Logged(row.decision_id, True, _review_info(carried, row.decision_id))

    def _stored(self, session: Session, proposal: Proposal, decision: Decision, digest: str) -> Logged:
        existing = session.scalar(
            select(DecisionRow)
            .where(DecisionRow.proposal_hash == digest, DecisionRow.rule_revision == decision.ruleset.revision)
            .options(selectinload(DecisionRow.reviews))
        )
        if existing is None:
            raise LookupError("a decision row vanished after a unique-key conflict")
        review = self._find_review(session, proposal.reference, proposal.title, digest)
        return Logged(existing.decision_id, False, self._standing(session, existing, review))

    def _record(self, proposal: Proposal, decision: Decision, actor: str, *, write: bool) -> Logged:
        """The review that stands for a proposal, nothing stored (record(write=False))."""
        digest = proposal_hash(proposal)
        with self._session() as session, session.begin():
            review = self._find_review(session, proposal.reference, proposal.title, digest)
            return Logged(
                decision.decision_id, False, _review_info(review, review.decision.decision_id) if review else None
            )

    def _standing(self, session: Session, row: DecisionRow, review: ReviewRow | None) -> ReviewInfo | None:
        """The review that stands for a stored decision: its own latest, or a newer one of the same
        contribution carried onto it (then the row's status follows)."""
        own = row.reviews[-1] if row.reviews else None
        if (
            review is not None
            and review.decision_pk != row.id
            and (own is None or _utc(review.created_at) > _utc(own.created_at))
        ):
            if own is None or own.inherited_from != (review.inherited_from or review.id):
                carried = self._carry_review(row, review)
                session.add(carried)
                session.flush()
                self._note_reviewed(row.reference, row.proposal_hash)
                return _review_info(carried, row.decision_id)
        return _review_info(own, row.decision_id) if own is not None else None

    @staticmethod
    def _new_values(
        proposal: Proposal,
        digest: str,
        decision: Decision,
        actor: str,
        item_id: str | None = None,
        canonical: str | None = None,
    ) -> dict[str, Any]:
        """The column values of a new decision row. With `canonical` (the proposal's canonical JSON,
        as hashed), the JSON columns are JSON text (for a Core insert): that text, and the decision
        serialised once by pydantic; else Python data (for an ORM row)."""
        raw = canonical is not None
        codes = decision.flag_codes()
        # A Decision as the engine made it is dumped as it is; anything else (a subclass) as a Decision.
        result = decision if type(decision) is Decision else Decision.model_validate(decision.model_dump())
        return {
            "decision_id": decision.decision_id or uuid.uuid4().hex,
            "reference": proposal.reference,
            "item_id": _item_id(item_id),  # kept beside the row, not in its hash
            "proposal_hash": digest,
            "title": proposal.title[:300],
            "proposal": RawJson(canonical) if canonical is not None else proposal.model_dump(mode="json"),
            "result": RawJson(result.model_dump_json()) if raw else result.model_dump(mode="json"),
            "home": decision.home,
            "lead": decision.lead,
            "confidence": decision.confidence,
            "flag_codes": "," + ",".join(codes) + ("," if codes else ""),
            "rule_revision": decision.ruleset.revision,
            "rule_version": decision.ruleset.version,
            "actor": actor[:100],
            "created_at": datetime.now(UTC),
            "status": "open",
            "final_home": decision.home,
        }

    @classmethod
    def _new_row(
        cls, proposal: Proposal, digest: str, decision: Decision, actor: str, item_id: str | None = None
    ) -> DecisionRow:
        return DecisionRow(**cls._new_values(proposal, digest, decision, actor, item_id))

    @staticmethod
    def _carry_review(row: DecisionRow, review: ReviewRow) -> ReviewRow:
        rules = (row.home, row.lead, row.result.get("other_sg"), list(row.result.get("questions", [])))
        row.status = (
            "confirmed"
            if (review.home, review.lead, review.other_sg, list(review.questions)) == rules
            else "overridden"
        )
        row.final_home = review.home
        return ReviewRow(
            decision_pk=row.id,
            action=review.action,
            home=review.home,
            lead=review.lead,
            other_sg=review.other_sg,
            questions=list(review.questions),
            reason=review.reason,
            reviewer=review.reviewer,
            reference=row.reference,
            proposal_hash=row.proposal_hash,
            created_at=review.created_at,
            inherited_from=review.inherited_from or review.id,
        )

    def review(self, decision_id: str, request: ReviewRequest) -> DecisionRecord:
        """Record a person's confirm or override of a decision; NotFound if there is no such decision."""
        with self._session() as session, session.begin():
            row = session.scalar(
                select(DecisionRow)
                .where(DecisionRow.decision_id == decision_id)
                .options(selectinload(DecisionRow.reviews))
                .with_for_update()
            )
            if row is None:
                raise NotFound(f"no decision {decision_id!r}")
            rules = (row.home, row.lead, row.result.get("other_sg"), list(row.result.get("questions", [])))
            if request.action == "confirm":
                # A confirmation confirms what stands: the last review's answer, else the rules'.
                last = row.reviews[-1] if row.reviews else None
                home, lead, other_sg, questions = (
                    (last.home, last.lead, last.other_sg, list(last.questions)) if last else rules
                )
            else:
                assert request.home is not None  # ReviewRequest guarantees it
                home, lead, other_sg = request.home, request.lead, request.other_sg
                questions = list(request.questions) if request.questions is not None else []
            row.reviews.append(
                ReviewRow(
                    action=request.action,
                    home=home,
                    lead=lead,
                    other_sg=other_sg,
                    questions=questions,
                    reason=request.reason,
                    reviewer=request.reviewer,
                    reference=row.reference,
                    proposal_hash=row.proposal_hash,
                    created_at=datetime.now(UTC),
                )
            )
            row.status = "confirmed" if (home, lead, other_sg, questions) == rules else "overridden"
            row.final_home = home
            session.flush()
            self._note_reviewed(row.reference, row.proposal_hash)
            return _record(row)

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def _find_review(session: Session, reference: str, title: str, digest: str) -> ReviewRow | None:
        """The latest review that stands for this contribution: same hash, or same reference and the same work."""
        same = ReviewRow.proposal_hash == digest
        if reference:
            same = or_(same, ReviewRow.reference == reference)
        rows = session.scalars(
            select(ReviewRow)
            .where(same)
            .order_by(ReviewRow.created_at.desc(), ReviewRow.id.desc())
            .options(selectinload(ReviewRow.decision))
            .limit(200)
        ).all()
        return next((r for r in rows if r.proposal_hash == digest or same_work(title, r.decision.title)), None)

    def find_override(self, reference: str, digest: str, title: str = "") -> ReviewInfo | None:
        """The latest review that stands for a contribution (same hash, or same reference and same work)."""
        with self._session() as session:
            review = self._find_review(session, reference, title, digest)
            return _review_info(review, review.decision.decision_id) if review else None

    @staticmethod
    def _reference_reviews(session: Session, rows: Sequence[DecisionRow]) -> dict[int, list[str]]:
        """For each row with a reference: the other decisions of that reference with a review that
        does not stand for it (another work under the same name): staff are told one exists."""
        refs = {r.reference for r in rows if r.reference}
        if not refs:
            return {}
        found = session.execute(
            select(ReviewRow.reference, ReviewRow.id, ReviewRow.inherited_from, DecisionRow.id, DecisionRow.decision_id)
            .join(DecisionRow, ReviewRow.decision_pk == DecisionRow.id)
            .where(ReviewRow.reference.in_(refs))
        ).all()
        out: dict[int, list[str]] = {}
        for row in rows:
            standing = {rv.inherited_from or rv.id for rv in row.reviews} | {rv.id for rv in row.reviews}
            others = [
                did
                for ref, rid, inh, pk, did in found
                if ref == row.reference and pk != row.id and rid not in standing and (inh or rid) not in standing
            ]
            if others:
                out[row.id] = sorted(set(others))
        return out

    def get(self, decision_id: str) -> DecisionRecord | None:
        """One decision with its reviews, or None."""
        with self._session() as session:
            row = session.scalar(
                select(DecisionRow)
                .where(DecisionRow.decision_id == decision_id)
                .options(selectinload(DecisionRow.reviews))
            )
            if row is None:
                return None
            return _record(row, self._reference_reviews(session, [row]).get(row.id, []))

    def list(self, flt: DecisionFilter) -> DecisionPage:
        """Decisions matching every given filter; newest first, or joint-work and overlap items first."""
        conditions: list[Any] = []
        if flt.flag:
            conditions.append(DecisionRow.flag_codes.contains(f",{flt.flag.strip().upper()},", autoescape=True))
        if flt.home:
            conditions.append(DecisionRow.final_home == flt.home)
        if flt.status == "reviewed":
            conditions.append(DecisionRow.status.in_(["confirmed", "overridden"]))
        elif flt.status:
            conditions.append(DecisionRow.status == flt.status)
        if flt.text and flt.text.strip():
            needle = flt.text.strip().lower()
            conditions.append(
                or_(
                    *(
                        func.lower(col).contains(needle, autoescape=True)
                        for col in (
                            DecisionRow.title,
                            DecisionRow.reference,
                            DecisionRow.decision_id,
                            DecisionRow.item_id,
                        )
                    )
                )
            )
        if flt.since:
            conditions.append(DecisionRow.created_at >= datetime.combine(flt.since, dtime.min, UTC))
        if flt.until:
            conditions.append(DecisionRow.created_at < datetime.combine(flt.until + timedelta(days=1), dtime.min, UTC))
        order: list[Any] = []
        if flt.sort == "priority":
            order.append(need_rank())
        order += [DecisionRow.created_at.desc(), DecisionRow.id.desc()]
        with self._session() as session:
            total = session.scalar(select(func.count()).select_from(DecisionRow).where(*conditions)) or 0
            rows = session.scalars(
                select(DecisionRow)
                .where(*conditions)
                .order_by(*order)
                .limit(flt.limit)
                .offset(flt.offset)
                .options(selectinload(DecisionRow.reviews))
            ).all()
            others = self._reference_reviews(session, rows)
            return DecisionPage(total=total, items=[_record(r, others.get(r.id, [])) for r in rows])

    def iter_all(self, flt: DecisionFilter, page: int = 500) -> Iterator[DecisionRecord]:
        """Every matching decision, page by page (for the CSV export)."""
        offset = 0
        while True:
            chunk = self.list(flt.model_copy(update={"limit": page, "offset": offset}))
            yield from chunk.items
            if len(chunk.items) < page:
                return
            offset += page

    def count(self) -> int:
        """How many decisions are stored."""
        with self._session() as session:
            return session.scalar(select(func.count()).select_from(DecisionRow)) or 0


def wait_logged(done: Future[Logged]) -> Logged:
    """What a submitted write did, once committed; LogUnavailable when the commit did not come in time."""
    try:
        return done.result(COMMIT_TIMEOUT_SECONDS)
    except TimeoutError as exc:
        raise LogUnavailable(f"no commit within {COMMIT_TIMEOUT_SECONDS:.0f} s") from exc


__all__ = [
    "DecisionLog",
    "Logged",
    "LogUnavailable",
    "NotFound",
    "SQLAlchemyError",
    "canonical_json",
    "need_of",
    "need_rank",
    "proposal_hash",
    "same_work",
    "wait_logged",
]
