"""Intake of an A.1 justification as plain text: parse it, say what was found, triage it."""
from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from api.db import ReviewedDecision, decide_async, log_for_app
from api.observability import note_decisions
from api.deps import RegistryDep, RulesDep
from engine.a1text import parse_a1

router = APIRouter(prefix="/v1", tags=["triage"])
MAX_TEXT = 200_000


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
        raise HTTPException(400, [{"loc": ["body"], "msg": f"request body is not valid UTF-8 (byte {exc.start})", "type": "invalid_encoding"}]) from None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise HTTPException(400, [{"loc": ["body", exc.lineno, exc.colno], "msg": f"invalid JSON: {exc.msg}", "type": "json_invalid"}]) from None
        try:
            return TextIntake.model_validate(data).text
        except Exception:
            raise HTTPException(422, [{"loc": ["body", "text"], "msg": 'expected {"text": "..."} with the A.1 text', "type": "invalid"}]) from None
    if ctype not in ("text/plain", ""):
        raise HTTPException(415, [{"loc": ["header", "content-type"], "msg": "send text/plain, or application/json with a 'text' field", "type": "unsupported_media_type"}])
    return body


@router.post("/triage/text", response_model=TextTriage, summary="Triage the plain text of an A.1 justification",
             openapi_extra={"requestBody": {"content": {
                 "text/plain": {"schema": {"type": "string"}},
                 "application/json": {"schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
             }, "required": True}})
async def triage_text(request: Request, rules: RulesDep, registry: RegistryDep,
                      use_registry: bool = Query(True, alias="registry")) -> Response:
    text = await _read_text(request)
    parsed = parse_a1(text)  # InputError -> 422 with where, by api.errors
    log_, write = log_for_app(request.app.state)
    decision, note = await decide_async(log_, parsed.proposal, rules, registry if use_registry else None, "api", write)
    out = TextTriage(decision=decision, proposal=parsed.proposal.model_dump(mode="json", exclude={"text"}), **parsed.as_dict())
    note_decisions(decision)
    return Response(out.model_dump_json(), media_type="application/json", headers={"X-Decision-Log": note})
