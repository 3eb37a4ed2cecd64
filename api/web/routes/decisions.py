"""Staff endpoints of the decision log: list and filter (JSON or CSV), fetch one, record a review."""
from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any, Iterator, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from api.decision_log import DecisionFilter, DecisionPage, DecisionRecord, NotFound, ReviewRequest
from api.decision_log.schemas import MAX_OFFSET
from api.web.deps import LogDep, Staff
from engine.csvcells import safe_row
from engine.labels import home_label
from engine.vocabulary import Home

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], dependencies=[Staff])

CSV_COLUMNS = ["decision_id", "created_at", "actor", "reference", "title", "home", "lead", "questions", "confidence", "flags",
               "status", "final_home", "final_lead", "final_questions", "reviewer", "reason", "rule_revision", "proposal_hash",
               "rules_label", "final_label", "item_id"]


def csv_row(rec: DecisionRecord) -> list[str]:
    """One CSV line of the export: the rules' answer, then what stands after review."""
    last = rec.reviews[-1] if rec.reviews else None
    return safe_row([rec.decision_id, rec.created_at.isoformat(), rec.actor, rec.reference, rec.title, rec.home, rec.lead or "",
            " ".join(rec.result.get("questions", [])), f"{rec.confidence:.2f}", " ".join(rec.flags), rec.status, rec.final_home,
            (last.lead if last else rec.lead) or "", " ".join(last.questions if last else rec.result.get("questions", [])),
            last.reviewer if last else "", last.reason if last else "", rec.rule_revision, rec.proposal_hash,
                     home_label(rec.home, rec.lead, rec.result.get("other_sg")),
                     home_label(last.home, last.lead, last.other_sg) if last else home_label(rec.home, rec.lead, rec.result.get("other_sg")),
                     rec.item_id or ""])


def csv_lines(records: Iterator[DecisionRecord]) -> Iterator[str]:
    """The CSV export, line by line (the API's format=csv and the staff page's export link)."""
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
def list_decisions(log_: LogDep,
                   flag: str | None = Query(None, max_length=40, description="A flag code, e.g. JOINT_WORK."),
                   home: Home | None = Query(None, description="The home that stands."),
                   status: Literal["open", "confirmed", "overridden", "reviewed"] | None = None,
                   text: str | None = Query(None, max_length=200, description="Words in the title, reference, item id or decision id."),
                   since: date | None = Query(None, description="Decided on or after this day (UTC)."),
                   until: date | None = Query(None, description="Decided on or before this day (UTC)."),
                   sort: Literal["newest", "priority"] = Query("newest", description="priority: by need (NEEDS_REVIEW, JOINT_WORK, low "
                                                                    "confidence, COORDINATE_Q6_17_Q6_20), then newest."),
                   limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                   format: Literal["json", "csv"] = "json") -> Any:
    flt = DecisionFilter(flag=flag, home=home, status=status, text=text, since=since, until=until, sort=sort, limit=limit, offset=offset)
    if format == "csv":
        log_.ensure_ready()
        return StreamingResponse(csv_lines(log_.iter_all(flt)), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="decisions.csv"'})
    return Response(log_.list(flt).model_dump_json(), media_type="application/json")


@router.get("/{decision_id}", response_model=DecisionRecord, summary="One decision with its input and reviews")
def get_decision(decision_id: str, log_: LogDep) -> Response:
    rec = log_.get(decision_id)
    if rec is None:
        raise NotFound(f"no decision {decision_id!r}")
    return Response(rec.model_dump_json(), media_type="application/json")


@router.post("/{decision_id}/review", response_model=DecisionRecord, summary="Confirm or override a decision (it sticks)")
def review_decision(decision_id: str, body: ReviewRequest, log_: LogDep) -> Response:
    rec = log_.review(decision_id, body)
    return Response(rec.model_dump_json(), media_type="application/json")
