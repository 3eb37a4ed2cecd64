"""Staff endpoints of the decision log: list and filter (JSON or CSV), fetch one, record a review."""
from __future__ import annotations

import csv
import io
import logging
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, AsyncIterator, Iterator, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.db import DecisionFilter, DecisionLog, DecisionPage, DecisionRecord, LogUnavailable, NotFound, ReviewRequest, get_log
from api.deps import Staff

log = logging.getLogger("iotsec_triage.api")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Migrate at start-up (alembic upgrade head); a database that is down is retried on first use.
    log_ = None
    try:
        log_ = get_log(app.state)
        await run_in_threadpool(log_.ensure_ready)
    except Exception as exc:  # a bad URL or a database that is down must not stop the service
        log.warning("%s; triage answers without the decision log until it is back", exc)
    yield
    if log_ is not None:
        log_.close()


router = APIRouter(prefix="/v1/decisions", tags=["decisions"], dependencies=[Staff], lifespan=_lifespan)

CSV_COLUMNS = ["decision_id", "created_at", "actor", "reference", "title", "home", "lead", "questions", "confidence", "flags",
               "status", "final_home", "final_lead", "final_questions", "reviewer", "reason", "rule_revision", "proposal_hash"]


def _log(request: Request) -> DecisionLog:
    return get_log(request.app.state)


def _unavailable(exc: LogUnavailable) -> HTTPException:
    return HTTPException(503, [{"loc": [], "msg": str(exc), "type": "log_unavailable"}], headers={"Retry-After": "5"})


def csv_row(rec: DecisionRecord) -> list[str]:
    """One CSV line of the export: the rules' answer, then what stands after review."""
    last = rec.reviews[-1] if rec.reviews else None
    return [rec.decision_id, rec.created_at.isoformat(), rec.actor, rec.reference, rec.title, rec.home, rec.lead or "",
            " ".join(rec.result.get("questions", [])), f"{rec.confidence:.2f}", " ".join(rec.flags), rec.status, rec.final_home,
            (last.lead if last else rec.lead) or "", " ".join(last.questions if last else rec.result.get("questions", [])),
            last.reviewer if last else "", last.reason if last else "", rec.rule_revision, rec.proposal_hash]


def _csv_lines(records: Iterator[DecisionRecord]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for rec in records:
        writer.writerow(csv_row(rec))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


@router.get("", response_model=DecisionPage, summary="List logged decisions, filtered; format=csv exports them all",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "JSON page of decisions, or the CSV export with format=csv"}})
def list_decisions(request: Request,
                   flag: str | None = Query(None, max_length=40, description="A flag code, e.g. JOINT_WORK."),
                   home: Literal["SG17", "SG20", "joint", "other", "undetermined"] | None = Query(None, description="The home that stands."),
                   status: Literal["open", "confirmed", "overridden", "reviewed"] | None = None,
                   text: str | None = Query(None, max_length=200, description="Words in the title, reference or id."),
                   since: date | None = Query(None, description="Decided on or after this day (UTC)."),
                   until: date | None = Query(None, description="Decided on or before this day (UTC)."),
                   sort: Literal["newest", "priority"] = Query("newest", description="priority: joint work and overlaps first."),
                   limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                   format: Literal["json", "csv"] = "json") -> Any:
    flt = DecisionFilter(flag=flag, home=home, status=status, text=text, since=since, until=until, sort=sort, limit=limit, offset=offset)
    log_ = _log(request)
    try:
        if format == "csv":
            log_.ensure_ready()
            return StreamingResponse(_csv_lines(log_.iter_all(flt)), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": 'attachment; filename="decisions.csv"'})
        return Response(log_.list(flt).model_dump_json(), media_type="application/json")
    except LogUnavailable as exc:
        raise _unavailable(exc) from None


@router.get("/{decision_id}", response_model=DecisionRecord, summary="One decision with its input and reviews")
def get_decision(decision_id: str, request: Request) -> Response:
    try:
        rec = _log(request).get(decision_id)
    except LogUnavailable as exc:
        raise _unavailable(exc) from None
    if rec is None:
        raise HTTPException(404, [{"loc": ["path", "decision_id"], "msg": f"no decision {decision_id!r}", "type": "not_found"}])
    return Response(rec.model_dump_json(), media_type="application/json")


@router.post("/{decision_id}/review", response_model=DecisionRecord, summary="Confirm or override a decision (it sticks)")
def review_decision(decision_id: str, body: ReviewRequest, request: Request) -> Response:
    try:
        rec = _log(request).review(decision_id, body)
    except LogUnavailable as exc:
        raise _unavailable(exc) from None
    except NotFound:
        raise HTTPException(404, [{"loc": ["path", "decision_id"], "msg": f"no decision {decision_id!r}", "type": "not_found"}]) from None
    return Response(rec.model_dump_json(), media_type="application/json")
