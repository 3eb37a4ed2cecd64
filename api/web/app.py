"""The FastAPI application: the JSON API and the pages, thin doors onto the engine."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from api import __version__
from api.decision_log import apply_review
from api.runtime import bootstrap
from api.runtime.settings import Settings, get_settings
from api.web import errors, observability, pages, security
from api.web.lanes import Lanes, lanes_of
from api.web.limits import BodyLimit
from api.web.routes import decisions, intake, registry, rules
from api.web.routes import triage as triage_routes
from engine import Proposal, triage

log = logging.getLogger("iotsec_triage.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the rules are loaded here, so a broken rule set fails at start, not later."""
    rt = bootstrap.build(settings or get_settings())
    if rt.settings.watch_rules:
        rt.holder.watch()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Migrate at start-up (alembic upgrade head); a database that is down is retried on first use.
        try:
            await run_in_threadpool(rt.decision_log().ensure_ready)
        except Exception as exc:  # noqa: BLE001 - a bad URL or a database that is down must not stop the service
            log.warning("%s; triage answers without the decision log until it is back", exc)
        rt.start_deciders()  # worker processes to decide in (IOTSEC_DECIDE_PROCESSES), loading meanwhile
        yield
        rt.close()

    # /docs and /redoc with their Swagger UI and ReDoc assets served by the app (nothing from a CDN).
    app = FastAPIOffline(
        title="iotsec-triage",
        version=__version__,
        lifespan=lifespan,
        description="Recommends the home of a proposed IoT-security work item: SG17, SG20, joint work, or another SG.",
    )
    app.state.runtime = rt
    app.state.lanes = Lanes(rt.settings.decide_threads, rt.settings.batch_threads)
    app.state.token_throttle = security.Throttle()  # refused tokens, at the login page and on the API
    errors.install(app)
    for module in (triage_routes, rules, registry, decisions, intake, pages):
        app.include_router(module.router)
    app.include_router(registry.pages)

    @app.get(
        "/healthz", tags=["ops"], summary="Liveness and what is serving; degraded when decisions are not being recorded"
    )
    def healthz() -> dict[str, Any]:
        rs = rt.rules
        log_health = rt.log_health()
        # Triage answers either way (200); "degraded" says that what it answers is not being logged.
        status = "ok" if log_health["status"] == "ok" or not log_health["writing"] else "degraded"
        found: dict[str, Any] = {
            "status": status,
            "rules": {"version": rs.version, "revision": rs.revision},
            "decision_log": log_health,
        }
        if rt.deciders is not None:
            found["deciders"] = rt.deciders.status()
        return found

    if os.environ.get("IOTSEC_BENCH_ENDPOINTS") == "1":

        @app.post("/_bench/validate", include_in_schema=False)
        async def bench_validate(proposal: Proposal) -> Response:
            # The baseline of bench/http_bench.py: the same model validated, nothing decided.
            return Response(b'{"ok":true}', media_type="application/json")

        @app.post("/_bench/lane", include_in_schema=False)
        async def bench_lane(proposal: Proposal) -> Response:
            # bench/http_bench.py: the bare endpoint served as /v1/triage is: validated, then one
            # trip to a worker thread of the single-proposal lane (doing nothing) and back.
            await lanes_of(app.state).single(bool)
            return Response(b'{"ok":true}', media_type="application/json")

        decided: dict[str, Any] = {}

        @app.post("/_bench/answer", include_in_schema=False)
        async def bench_answer(proposal: Proposal) -> Response:
            # bench/http_bench.py: the route's own cost. The model validated and the first request's
            # decision answered again through the same response path, nothing decided after it.
            if "answer" not in decided:
                decided["answer"] = apply_review(triage(proposal, rt.rules, rt.registry), None)
            return triage_routes.respond(decided["answer"], "off")

    app.add_middleware(
        BodyLimit,
        default=rt.settings.max_body_bytes,
        per_path={
            "/v1/triage/batch": rt.settings.max_batch_body_bytes,
            # files as received (a .docx with its figures, a spreadsheet of items)
            "/v1/triage/file": rt.settings.max_batch_body_bytes,
            "/upload": rt.settings.max_batch_body_bytes,
        },
        timeout=rt.settings.body_timeout_seconds,
    )
    security.install(app)  # security headers, JSON-only gate, documented refusals
    observability.install(app, rt.settings)  # outermost: counts and logs every request, refused ones too
    return app
