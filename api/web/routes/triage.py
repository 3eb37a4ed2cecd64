"""The triage endpoints: one proposal, or a batch where each item succeeds or fails alone."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from api.decision_log import ReviewedDecision, decide_async, record_many_async
from api.web.deps import RuntimeDep, runtime_of
from api.web.errors import clean_errors, http_error
from api.web.observability import note_decisions
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
    # The hot path reads the runtime directly: each declared dependency costs a resolution per request.
    rt = runtime_of(request)
    rules = rt.rules  # taken once: a reload never changes the rules under this request
    log_, write = rt.log_for_request()
    decision, note = await decide_async(log_, proposal, rules, rt.registry if use_registry else None, "api", write)
    return respond(decision, note)


@router.post("/triage/batch", response_model=BatchResponse, summary="Triage many proposals; one result or error per item, in order")
async def triage_batch(body: BatchRequest, rt: RuntimeDep, use_registry: bool = Query(True, alias="registry")) -> Response:
    limit = rt.settings.max_batch_items
    if len(body.items) > limit:
        raise http_error(413, f"{len(body.items)} items; a batch takes at most {limit}", "too_many_items", ["body", "items"])
    rules = rt.rules
    reg = rt.registry if use_registry else None
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
    log_, write = rt.log_for_request()
    answers, note = await record_many_async(log_, decided, rules, "api", write)
    for result, answer in zip((r for r in results if r.ok), answers):
        result.decision = answer
    return respond(BatchResponse(results=results), note)
