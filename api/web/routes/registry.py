"""The registry of existing work items and the landscape report, as read-only endpoints, and the
landscape page of the web app (/landscape)."""

from __future__ import annotations

import datetime
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from api.web.deps import RegistryDep, RulesDep, runtime_of
from api.web.errors import http_error
from engine import RuleSet
from engine.registry import Registry
from engine.registry.items import STATUSES, date_key
from engine.registry.landscape import Landscape, build_landscape, changes_since, filter_landscape
from engine.registry.reports import (
    ASSETS,
    CHANGE_FORMATS,
    asset,
    render,
    render_changes,
    report_body,
    script_hash,
    to_dict,
)

router = APIRouter(prefix="/v1", tags=["registry"])
pages = APIRouter(include_in_schema=False)

MAX_LIMIT = 500
_CACHE_SIZE = 16
_cache: dict[tuple[str, ...], Any] = {}
_cache_lock = threading.Lock()
# The landscape page: the app's strict policy (no inline script or style), charts as data URIs.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

REPORT_CSP = (
    "default-src 'self'; script-src 'self' {script}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'"
)

SgParam = Annotated[str | None, Query(pattern=r"^SG\d{1,2}$", description="Holding Study Group, e.g. SG17.")]
QuestionParam = Annotated[str | None, Query(pattern=r"^Q\d{1,2}/\d{1,2}$", description="Question, e.g. Q6/17.")]
LandscapeQuestionParam = Annotated[
    str | None,
    Query(
        pattern=r"^(Q\d{1,2}/\d{1,2}|unknown)$", description="Question, e.g. Q6/17; 'unknown' = no Question on record."
    ),
]
StatusParam = Annotated[
    str | None,
    Query(
        pattern="^(ongoing|" + "|".join(STATUSES) + ")$",
        description="A status, or 'ongoing' (under study, determined or consented).",
    ),
]
ConceptParam = Annotated[str | None, Query(pattern=r"^[a-z0-9_-]{1,60}$", description="A lexicon concept id.")]
DateParam = Annotated[
    str | None, Query(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$", description="A date: YYYY-MM-DD, YYYY-MM or YYYY.")
]
TopicParam = Annotated[
    str | None, Query(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=60, description="A topic, e.g. smart-grid.")
]
TextParam = Annotated[
    str | None,
    Query(min_length=1, max_length=200, description="Words that must all appear in id, title, description or topics."),
]


def _registry(registry: Registry | None) -> Registry:
    if registry is None:
        raise http_error(404, "no registry of existing work items is loaded", "disabled")
    return registry


def _cached(key: tuple[str, ...], make: Any) -> Any:
    body = _cache.get(key)
    if body is None:
        body = make()
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            _cache[key] = body
    return body


def _landscape(reg: Registry, rules: RuleSet) -> Landscape:
    # The hand-kept IoT-security work, not every imported Recommendation.
    land: Landscape = _cached((rules.revision, reg.revision, "model"), lambda: build_landscape(reg.curated(), rules))
    return land


def _check_concept(land: Landscape, value: str | None, axis: str) -> None:
    ids = {a.id for a in (land.aspects if axis == "aspect" else land.sectors)} | (
        {"-"} if axis == "aspect" else {"cross_sector"}
    )
    if value is not None and value not in ids:
        raise http_error(422, f"unknown {axis} {value!r}; one of {', '.join(sorted(ids))}", "invalid")


@router.get("/work-items", summary="Existing Recommendations and work items, filtered")
def work_items(
    registry: RegistryDep,
    sg: SgParam = None,
    question: QuestionParam = None,
    topic: TopicParam = None,
    q: TextParam = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    found = _registry(registry).select(sg=sg, question=question, topic=topic, text=q)
    return {
        "total": len(found),
        "limit": limit,
        "offset": offset,
        "items": [it.model_dump() for it in found[offset : offset + limit]],
    }


@router.get(
    "/landscape",
    summary="The landscape for a JCG meeting: matrix, Q6/17 and Q6/20 side by side, contested items, gaps; "
    "or, with since, what changed",
    responses={200: {"content": {"application/json": {}, "text/html": {}, "text/markdown": {}, "text/csv": {}}}},
)
def landscape(
    rules: RulesDep,
    registry: RegistryDep,
    format: Literal["json", "html", "md", "csv"] = "json",  # noqa: A002 - the query parameter's public name
    sg: SgParam = None,
    question: LandscapeQuestionParam = None,
    status: StatusParam = None,
    aspect: ConceptParam = None,
    sector: ConceptParam = None,
    since: DateParam = None,
    until: DateParam = None,
) -> Response:
    reg = _registry(registry)
    if since or until:
        if not since:
            raise http_error(422, "until needs since", "invalid")
        if format not in CHANGE_FORMATS:
            raise http_error(422, f"what changed renders as {', '.join(CHANGE_FORMATS)}, not {format}", "invalid")
        try:
            for d in (since, until):
                if d:
                    datetime.date.fromisoformat(date_key(d))
        except ValueError:
            raise http_error(422, "since and until must be real dates", "invalid") from None
        if until and date_key(until) < date_key(since):
            raise http_error(422, "until is before since", "invalid")
        body = _cached(
            (rules.revision, reg.revision, "changes", since, until or "", format),
            lambda: render_changes(
                changes_since(reg.curated().items, rules, since, until or "", reg.file.rsplit("/", 1)[-1]), format
            ),
        )
    else:
        land = _landscape(reg, rules)
        _check_concept(land, aspect, "aspect")
        _check_concept(land, sector, "sector")
        filters = (sg or "", question or "", status or "", aspect or "", sector or "")
        view = filter_landscape(land, sg=sg, question=question, status=status, aspect=aspect, sector=sector)
        body = _cached(
            (rules.revision, reg.revision, format, *filters),
            lambda: to_dict(view) if format == "json" else render(view, format),
        )
    if format == "json":
        return JSONResponse(body) if isinstance(body, dict) else Response(body, media_type="application/json")
    if format == "html":
        # The standalone report embeds its filter script; this policy allows that one script and no other.
        return HTMLResponse(body, headers={"Content-Security-Policy": REPORT_CSP.format(script=script_hash())})
    media = {"md": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8"}[format]
    return PlainTextResponse(body, media_type=media)


# -- the web app's page ------------------------------------------------------------------------


@pages.get("/landscape", response_class=HTMLResponse)
def landscape_page(request: Request, rules: RulesDep, registry: RegistryDep) -> Response:
    """The landscape inside the app's pages: the report's body, its script and styles from /landscape/assets/."""
    from api.web.pages import templates

    rt = runtime_of(request)
    if registry is None:
        body = ""
    else:
        body = _cached((rules.revision, registry.revision, "page"), lambda: report_body(_landscape(registry, rules)))
    response = templates.TemplateResponse(
        request,
        "landscape.html",
        {"report": body, "staff": False, "staff_enabled": rt.settings.staff_token is not None, "csrf": ""},
    )
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


@pages.get("/landscape/assets/{name}")
def landscape_asset(name: str) -> Response:
    """The report's script and styles (the same files the standalone report embeds)."""
    if name not in ASSETS:
        return Response("not found", status_code=404, media_type="text/plain")
    media = "text/javascript; charset=utf-8" if name.endswith(".js") else "text/css; charset=utf-8"
    return Response(asset(name), media_type=media, headers={"Cache-Control": "public, max-age=3600"})
