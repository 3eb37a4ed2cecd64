"""The triage endpoints: one proposal, or a batch where each item succeeds or fails alone."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from api.db import ReviewedDecision, decide_async, log_for_app, record_many_async
from api.deps import RegistryDep, RulesDep, SettingsDep
from api.errors import clean_errors
from api.observability import note_decisions
from engine import Decision, Proposal, triage

router = APIRouter(prefix="/v1", tags=["triage"])


class BatchRequest(BaseModel):
    items: list[Any] = Field(description="Proposals; each is validated and triaged on its own.")


class BatchResult(BaseModel):
    index: int
    ok: bool
    decision: ReviewedDecision | None = None
    error: list[dict[str, Any]] | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]


def respond(model: BaseModel, log_note: str | None = None) -> Response:
    # Built once here rather than re-validated against response_model by FastAPI.
    headers = {"X-Decision-Log": log_note} if log_note else None
    note_decisions(model)
    return Response(model.model_dump_json(), media_type="application/json", headers=headers)


@router.post("/triage", response_model=ReviewedDecision, summary="Recommend the home of one proposal")
async def triage_one(proposal: Proposal, request: Request,
                     use_registry: bool = Query(True, alias="registry", description="Consult the registry of existing work.")) -> Response:
    # The hot path reads app state directly: each declared dependency costs a resolution per request.
    state = request.app.state
    rules = state.holder.current  # taken once: a reload never changes the rules under this request
    log_, write = log_for_app(state)
    decision, note = await decide_async(log_, proposal, rules, state.registry if use_registry else None, "api", write)
    return respond(decision, note)


@router.post("/triage/batch", response_model=BatchResponse, summary="Triage many proposals; one result or error per item, in order")
async def triage_batch(body: BatchRequest, rules: RulesDep, registry: RegistryDep, settings: SettingsDep, request: Request,
                       use_registry: bool = Query(True, alias="registry")) -> Response:
    if len(body.items) > settings.max_batch_items:
        raise HTTPException(413, [{"loc": ["body", "items"], "type": "too_many_items",
                                   "msg": f"{len(body.items)} items; a batch takes at most {settings.max_batch_items}"}])
    reg = registry if use_registry else None
    results: list[BatchResult] = []
    decided: list[tuple[Proposal, Decision]] = []
    for i, raw in enumerate(body.items):
        try:
            proposal = Proposal.model_validate(raw)
        except ValidationError as exc:
            errors = clean_errors(exc.errors(include_url=False))
            for e in errors:
                e["loc"] = ["body", "items", i, *e["loc"]]
            results.append(BatchResult(index=i, ok=False, error=errors))
            continue
        decided.append((proposal, triage(proposal, rules, reg)))
        results.append(BatchResult(index=i, ok=True))
    log_, write = log_for_app(request.app.state)
    answers, note = await record_many_async(log_, decided, rules, "api", write)
    for result, answer in zip((r for r in results if r.ok), answers):
        result.decision = answer
    return respond(BatchResponse(results=results), note)
