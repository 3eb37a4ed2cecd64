"""The triage endpoints: one proposal, or a batch where each item succeeds or fails alone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError, field_validator

from api.decision_log import LogNote, ReviewedDecision, Triage, decide_async, decide_indexed
from api.web.deps import RuntimeDep, runtime_of
from api.web.errors import clean_errors, http_error
from api.web.lanes import BATCH_SLICE, lanes_of
from api.web.observability import note_decisions
from engine import Proposal, RuleSet

router = APIRouter(prefix="/v1", tags=["triage"])


class BatchRequest(BaseModel):
    items: list[Any] = Field(
        description="Proposals; each is validated and triaged on its own. An item may also carry its "
        'own id as files do, {"id": ..., "proposal": {...}}: the id is kept with the decision.'
    )


class BatchItem(BaseModel):
    """A batch item with its own id (a contribution number), the shape JSON files take too."""

    model_config = {"extra": "forbid", "str_strip_whitespace": True}

    id: str = Field(min_length=1, max_length=100, description="The item's own id, e.g. a contribution number.")
    proposal: Proposal

    @field_validator("id", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        # A contribution number sent as a JSON number is the same id (as in files); true/false is not.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class BatchResult(BaseModel):
    index: int
    ok: bool
    id: str | None = Field(default=None, description="The item's own id, when it was sent as {id, proposal}.")
    decision: ReviewedDecision | None = None
    error: list[dict[str, Any]] | None = None
    log: LogNote | None = Field(
        default=None, description="What happened to this item's record: recorded, existing, off or failed."
    )


class BatchResponse(BaseModel):
    results: list[BatchResult]


def respond(model: BaseModel, log_note: str | None = None) -> Response:
    # Built once here rather than re-validated against response_model by FastAPI.
    headers = {"X-Decision-Log": log_note} if log_note else None
    note_decisions(model)
    return Response(model.model_dump_json(), media_type="application/json", headers=headers)


@router.post("/triage", response_model=ReviewedDecision, summary="Recommend the home of one proposal")
async def triage_one(
    proposal: Proposal,
    request: Request,
    use_registry: bool = Query(True, alias="registry", description="Consult the registry of existing work."),
) -> Response:
    # The hot path reads the runtime directly: each declared dependency costs a resolution per request.
    rt = runtime_of(request)
    rules = rt.rules  # taken once: a reload never changes the rules under this request
    log_, write = rt.log_for_request()
    decision, note = await decide_async(
        log_,
        proposal,
        rules,
        rt.registry if use_registry else None,
        "api",
        write,
        limiter=lanes_of(request.app.state).limiter("single"),
        triage_with=rt.triage,
    )
    return respond(decision, note)


def text_size(value: Any, limit: int) -> int:
    """Characters of text in a JSON value (strings and keys), counted until past `limit`."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += sum(len(k) for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total


def batch_note(notes: list[LogNote]) -> LogNote:
    """The batch's X-Decision-Log: failed when any item's record failed, else what all items share."""
    kinds = set(notes)
    if "failed" in kinds:
        return "failed"
    if len(kinds) == 1:
        return notes[0]
    return "recorded" if "recorded" in kinds else "existing" if "existing" in kinds else "off"


def _decide_slice(
    start: int, raws: list[Any], rules: RuleSet, registry: Any, log_: Any, write: bool, triage_with: Triage
) -> list[BatchResult]:
    """Validate, decide and record a few batch items, each on its own (blocking: a worker thread)."""
    out: list[BatchResult] = []
    for i, raw in enumerate(raws, start):
        item_id: str | None = None
        try:
            if isinstance(raw, dict) and "proposal" in raw:
                item = BatchItem.model_validate(raw)
                proposal, item_id = item.proposal, item.id
            else:
                proposal = Proposal.model_validate(raw)
        except ValidationError as exc:
            errors = clean_errors(exc.errors(include_url=False))
            for e in errors:
                e["loc"] = ["body", "items", i, *e["loc"]]
            out.append(BatchResult(index=i, ok=False, error=errors))
            continue
        answer, note = decide_indexed(log_, proposal, rules, registry, "api", write, item_id, triage_with)
        out.append(BatchResult(index=i, ok=True, id=item_id, decision=answer, log=note))
    return out


@router.post(
    "/triage/batch",
    response_model=BatchResponse,
    summary="Triage many proposals; one result or error per item, in order",
)
async def triage_batch(
    body: BatchRequest, request: Request, rt: RuntimeDep, use_registry: bool = Query(True, alias="registry")
) -> Response:
    limit = rt.settings.max_batch_items
    if len(body.items) > limit:
        raise http_error(
            413, f"{len(body.items)} items; a batch takes at most {limit}", "too_many_items", ["body", "items"]
        )
    budget = rt.settings.max_batch_chars
    size = text_size(body.items, budget)
    if size > budget:
        raise http_error(
            413,
            f"the items hold over {budget} characters of text, this batch's work budget; send them in smaller batches",
            "work_budget",
            ["body", "items"],
        )
    rules = rt.rules
    reg = rt.registry if use_registry else None
    log_, write = rt.log_for_request()
    lanes = lanes_of(request.app.state)
    results: list[BatchResult] = []
    for start in range(0, len(body.items), BATCH_SLICE):
        # One slice per trip: between slices other batches, single requests and reloads get their turn.
        results += await lanes.batch(
            _decide_slice, start, body.items[start : start + BATCH_SLICE], rules, reg, log_, write, rt.triage
        )
    notes = [r.log for r in results if r.log is not None]
    answer = BatchResponse(results=results)
    note = batch_note(notes) if notes else "off"  # no item decided: nothing to record
    note_decisions(answer)
    payload = await lanes.batch(answer.model_dump_json)  # a thousand decisions take a while to write out
    return Response(payload, media_type="application/json", headers={"X-Decision-Log": note})
