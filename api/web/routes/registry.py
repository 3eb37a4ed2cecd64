"""The registry of existing work items and the landscape report, as read-only endpoints."""
from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from api.web.deps import RegistryDep, RulesDep
from api.web.errors import http_error
from engine.registry import Registry
from engine.registry.landscape import build_landscape
from engine.registry.reports import render, to_dict

router = APIRouter(prefix="/v1", tags=["registry"])

MAX_LIMIT = 500
_CACHE_SIZE = 16
_cache: dict[tuple[str, str, str], Any] = {}
_cache_lock = threading.Lock()

SgParam = Annotated[str | None, Query(pattern=r"^SG\d{1,2}$", description="Holding Study Group, e.g. SG17.")]
QuestionParam = Annotated[str | None, Query(pattern=r"^Q\d{1,2}/\d{1,2}$", description="Question, e.g. Q6/17.")]
TopicParam = Annotated[str | None, Query(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=60, description="A topic, e.g. smart-grid.")]
TextParam = Annotated[str | None, Query(min_length=1, max_length=200, description="Words that must all appear in id, title, description or topics.")]


def _registry(registry: Registry | None) -> Registry:
    if registry is None:
        raise http_error(404, "no registry of existing work items is loaded", "disabled")
    return registry


@router.get("/work-items", summary="Existing Recommendations and work items, filtered")
def work_items(registry: RegistryDep, sg: SgParam = None, question: QuestionParam = None, topic: TopicParam = None,
               q: TextParam = None, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict[str, Any]:
    found = _registry(registry).select(sg=sg, question=question, topic=topic, text=q)
    return {"total": len(found), "limit": limit, "offset": offset,
            "items": [it.model_dump() for it in found[offset:offset + limit]]}


@router.get("/landscape", summary="Every registry item classified by the rules; topics, overlaps, candidates, gaps",
            responses={200: {"content": {"application/json": {}, "text/html": {}, "text/markdown": {}, "text/csv": {}}}})
def landscape(rules: RulesDep, registry: RegistryDep,
              format: Literal["json", "html", "md", "csv"] = "json") -> Response:  # noqa: A002 - the query parameter's public name
    reg = _registry(registry)
    key = (rules.revision, reg.revision, format)
    body = _cache.get(key)
    if body is None:
        land = build_landscape(reg.curated(), rules)  # the hand-kept IoT-security work, not every imported Recommendation
        body = to_dict(land) if format == "json" else render(land, format)
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            _cache[key] = body
    if format == "json":
        return JSONResponse(body)
    if format == "html":
        return HTMLResponse(body)
    media = {"md": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8"}[format]
    return PlainTextResponse(body, media_type=media)
