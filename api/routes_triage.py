"""The triage endpoints: one proposal, or a batch where each item succeeds or fails alone."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field, ValidationError

from api.deps import RegistryDep, RulesDep, SettingsDep
from api.errors import clean_errors
from engine import Decision, Proposal, triage

router = APIRouter(prefix="/v1", tags=["triage"])


class BatchRequest(BaseModel):
    items: list[Any] = Field(description="Proposals; each is validated and triaged on its own.")


class BatchResult(BaseModel):
    index: int
    ok: bool
    decision: Decision | None = None
    error: list[dict[str, Any]] | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]


def _json(model: BaseModel) -> Response:
    # Built once here rather than re-validated against response_model by FastAPI.
    return Response(model.model_dump_json(), media_type="application/json")


@router.post("/triage", response_model=Decision, summary="Recommend the home of one proposal")
async def triage_one(proposal: Proposal, rules: RulesDep, registry: RegistryDep,
                     use_registry: bool = Query(True, alias="registry", description="Consult the registry of existing work.")) -> Response:
    return _json(triage(proposal, rules, registry if use_registry else None))


@router.post("/triage/batch", response_model=BatchResponse, summary="Triage many proposals; one result or error per item, in order")
async def triage_batch(body: BatchRequest, rules: RulesDep, registry: RegistryDep, settings: SettingsDep,
                       use_registry: bool = Query(True, alias="registry")) -> Response:
    if len(body.items) > settings.max_batch_items:
        raise HTTPException(413, [{"loc": ["body", "items"], "type": "too_many_items",
                                   "msg": f"{len(body.items)} items; a batch takes at most {settings.max_batch_items}"}])
    reg = registry if use_registry else None
    results: list[BatchResult] = []
    for i, raw in enumerate(body.items):
        try:
            proposal = Proposal.model_validate(raw)
        except ValidationError as exc:
            errors = clean_errors(exc.errors(include_url=False))
            for e in errors:
                e["loc"] = ["body", "items", i, *e["loc"]]
            results.append(BatchResult(index=i, ok=False, error=errors))
            continue
        results.append(BatchResult(index=i, ok=True, decision=triage(proposal, rules, reg)))
    return _json(BatchResponse(results=results))
