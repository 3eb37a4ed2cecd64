"""The FastAPI application: the JSON API (and, later, pages) as thin doors onto the engine."""
from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from api import errors, routes_registry, routes_rules, routes_triage
from api import pages, routes_decisions, routes_intake
from api.limits import BodyLimit
from api import observability, security
from api.settings import Settings, get_settings
from api.db import apply_review
from engine import Proposal, RuleHolder, triage
from engine.registry import load_default_registry, load_registry

VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the rules are loaded here, so a broken rule set fails at start, not later."""
    settings = settings or get_settings()
    registry = load_registry(settings.registry_file) if settings.registry_file else load_default_registry()
    holder = RuleHolder(settings.resolved_rules_dir(), known_owners=registry.owners)
    holder.load()
    if settings.watch_rules:
        holder.watch()
    app = FastAPI(title="iotsec-triage", version=VERSION,
                  description="Recommends the home of a proposed IoT-security work item: SG17, SG20, joint work, or another SG.")
    app.state.settings = settings
    app.state.holder = holder
    app.state.registry = registry
    errors.install(app)
    app.include_router(routes_triage.router)
    app.include_router(routes_rules.router)
    app.include_router(routes_registry.router)
    app.include_router(routes_decisions.router)
    app.include_router(routes_intake.router)
    app.include_router(pages.router)

    @app.get("/healthz", tags=["ops"], summary="Liveness and what is serving")
    def healthz() -> dict[str, Any]:
        rs = holder.current
        return {"status": "ok", "rules": {"version": rs.version, "revision": rs.revision},
                "decision_log": observability.decision_log_health(app.state)}

    if os.environ.get("IOTSEC_BENCH_ENDPOINTS") == "1":
        @app.post("/_bench/validate", include_in_schema=False)
        async def bench_validate(proposal: Proposal) -> Response:
            # The baseline of bench/http_bench.py: the same model validated, nothing decided.
            return Response(b'{"ok":true}', media_type="application/json")

        decided: dict[str, Any] = {}

        @app.post("/_bench/answer", include_in_schema=False)
        async def bench_answer(proposal: Proposal) -> Response:
            # bench/http_bench.py: the route's own cost. The model validated and the first request's
            # decision answered again through the same response path, nothing decided after it.
            if "answer" not in decided:
                decided["answer"] = apply_review(triage(proposal, holder.current), None)
            return routes_triage.respond(decided["answer"], "off")

    app.add_middleware(BodyLimit, default=settings.max_body_bytes,
                       per_path={"/v1/triage/batch": settings.max_batch_body_bytes})
    security.install(app)  # security headers, JSON-only gate, documented refusals
    observability.install(app)  # outermost: counts and logs every request, refused ones too
    return app
