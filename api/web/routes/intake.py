"""Intake of what staff receive: an A.1 justification as plain text, or a file (a contribution's
.docx, an A.1 .txt, a CSV/XLSX/JSON Lines batch): read it, say what was found, triage it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from api.decision_log import ReviewedDecision, decide_async
from api.web.deps import RuntimeDep
from api.web.errors import http_error
from api.web.lanes import lanes_of
from api.web.limits import TOO_DEEP_MSG, nested_too_deeply
from api.web.observability import note_decisions
from engine.intake.a1text import A1Parse, parse_a1
from engine.intake.files import read_upload

router = APIRouter(prefix="/v1", tags=["triage"])
MAX_TEXT = 200_000
MAX_FILE = 10_000_000


class TextIntake(BaseModel):
    model_config = {"extra": "forbid"}

    text: str = Field(max_length=MAX_TEXT, description="The A.1 justification as pasted.")


class TextTriage(BaseModel):
    """The decision, the proposal read from the text, and which fields and A.1 labels were found."""

    decision: ReviewedDecision
    proposal: dict[str, Any]
    found: list[str]
    sections: list[str]
    missing: list[str]


async def _read_text(request: Request) -> str:
    raw = await request.body()
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise http_error(
            400, f"request body is not valid UTF-8 (byte {exc.start})", "invalid_encoding", ["body"]
        ) from None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        if nested_too_deeply(raw):  # BodyLimit has refused it already; json.loads must never meet it
            raise http_error(400, TOO_DEEP_MSG, "too_deep", ["body"])
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise http_error(400, f"invalid JSON: {exc.msg}", "json_invalid", ["body", exc.lineno, exc.colno]) from None
        try:
            return TextIntake.model_validate(data).text
        except Exception:
            raise http_error(422, 'expected {"text": "..."} with the A.1 text', "invalid", ["body", "text"]) from None
    if ctype not in ("text/plain", ""):
        raise http_error(
            415,
            "send text/plain, or application/json with a 'text' field",
            "unsupported_media_type",
            ["header", "content-type"],
        )
    return body


@router.post(
    "/triage/text",
    response_model=TextTriage,
    summary="Triage the plain text of an A.1 justification",
    openapi_extra={
        "requestBody": {
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
                },
            },
            "required": True,
        }
    },
)
async def triage_text(request: Request, rt: RuntimeDep, use_registry: bool = Query(True, alias="registry")) -> Response:
    text = await _read_text(request)
    lanes = lanes_of(request.app.state)
    parsed = await lanes.single(parse_a1, text)  # InputError -> 422 with where, by api.web.errors
    log_, write = rt.log_for_request()
    decision, note = await decide_async(
        log_,
        parsed.proposal,
        rt.rules,
        rt.registry if use_registry else None,
        "api",
        write,
        limiter=lanes.limiter("single"),
        triage_with=rt.triage,
    )
    out = TextTriage(
        decision=decision, proposal=parsed.proposal.model_dump(mode="json", exclude={"text"}), **parsed.as_dict()
    )
    note_decisions(decision)
    return Response(out.model_dump_json(), media_type="application/json", headers={"X-Decision-Log": note})


class FileItem(BaseModel):
    """One item of an uploaded file: where it is, its own id (a contribution number), the decision
    or what is wrong, and for an A.1 text what was found."""

    where: str
    id: str | None = None
    ok: bool
    decision: ReviewedDecision | None = None
    error: str | None = None
    found: list[str] | None = None
    missing: list[str] | None = None


class FileTriage(BaseModel):
    file: str
    items: list[FileItem]
    notes: list[str] = Field(default_factory=list, description="Remarks that stop nothing (an ignored column).")


@router.post(
    "/triage/file",
    response_model=FileTriage,
    summary="Triage a file: a contribution's .docx (its A.1 table or "
    "headed sections), an A.1 .txt, or a CSV, XLSX or JSON Lines batch (multipart, field 'file')",
)
async def triage_file(
    rt: RuntimeDep,
    file: UploadFile = File(description="The file as received."),
    use_registry: bool = Query(True, alias="registry"),
) -> Response:
    name = (file.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200] or "upload"
    data = await file.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise http_error(413, f"{name}: larger than {MAX_FILE} bytes", "too_large", ["body", "file"])
    limit = rt.settings.max_batch_items
    log_, write = rt.log_for_request()
    out = FileTriage(file=name, items=[])
    for rec in read_upload(data, name):
        if rec.warning:
            out.notes.append(f"{rec.where}: {rec.warning}")
            continue
        if len(out.items) >= limit:
            raise http_error(413, f"{name}: more than {limit} items", "too_many_items", ["body", "file"])
        if rec.proposal is None:
            out.items.append(FileItem(where=rec.where, id=rec.id, ok=False, error=rec.error or "unreadable"))
            continue
        decision, _ = await decide_async(
            log_,
            rec.proposal,
            rt.rules,
            rt.registry if use_registry else None,
            "api",
            write,
            item_id=rec.id,
            triage_with=rt.triage,
        )
        parse = rec.extra.get("a1")
        a1 = parse.as_dict() if isinstance(parse, A1Parse) else {}
        out.items.append(
            FileItem(
                where=rec.where, id=rec.id, ok=True, decision=decision, found=a1.get("found"), missing=a1.get("missing")
            )
        )
        note_decisions(decision)
    if not any(i.ok for i in out.items):
        shown = "; ".join(f"{i.where}: {i.error}" for i in out.items[:5]) or f"{name}: no proposal in it"
        raise http_error(422, shown, "unreadable_file", ["body", "file"])
    return Response(out.model_dump_json(), media_type="application/json")
