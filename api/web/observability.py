"""Structured JSON logs and Prometheus metrics, from one plain ASGI middleware (cheap per request).

Logs: every line is one JSON object (`ts`, `level`, `logger`, `msg`, and the fields of the request
it belongs to, `decision_id` among them); Bearer tokens and the configured tokens never appear.
`logging_config()` is the dictConfig handed to uvicorn, so its own lines are JSON too; the
request line comes from this module (`iotsec_triage.access`), which knows the route and the
decision, and replaces uvicorn's access log.

Metrics (GET /metrics, Prometheus text format):
    iotsec_http_requests_total{method, route, status}      route = the matched path template
    iotsec_http_request_duration_seconds{method, route}     histogram
    iotsec_decisions_total{home}                            decisions answered by the API
    iotsec_rule_reloads_total{result="succeeded"|"failed"}  POST /v1/rules/reload outcomes
With several workers, PROMETHEUS_MULTIPROC_DIR makes /metrics add up every worker's figures.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import shutil
import signal
import tempfile
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from api.runtime.settings import Settings

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "<unmatched>"
MAX_IDS_LOGGED = 100
RELOAD_ROUTE = "/v1/rules/reload"

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "iotsec_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "iotsec_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DECISIONS = Counter("iotsec_decisions", "Decisions answered by the API, by home.", ["home"], registry=REGISTRY)
RELOADS = Counter("iotsec_rule_reloads", "Rule reloads asked for over HTTP, by result.", ["result"], registry=REGISTRY)

access_log = logging.getLogger("iotsec_triage.access")

# The request a log record belongs to; a mutable dict so that the route can add the decision ids.
_request: ContextVar[dict[str, Any] | None] = ContextVar("iotsec_request", default=None)


# -- logs ----------------------------------------------------------------------------------------

_secrets: set[str] = set()
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_AUTH_FIELD = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?!bearer\s+\[redacted\])(?:[a-z]+\s+)?[^\s\"',;]+")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def register_secrets(values: Iterable[str | None]) -> None:
    """Strings that must never reach a log line (the admin and staff tokens)."""
    _secrets.update(v for v in values if v)


def redact(text: str) -> str:
    """The text with tokens and Authorization values replaced by [redacted]."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    if "earer" in text or "uthorization" in text or "EARER" in text or "UTHORIZATION" in text:
        text = _BEARER.sub(r"\1[redacted]", text)
        text = _AUTH_FIELD.sub(r"\1[redacted]", text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's fields, any extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        ctx = _request.get()
        if ctx is not None:
            ids = ctx.get("decision_ids")
            if ids:
                out.setdefault("decision_id" if len(ids) == 1 else "decision_ids", ids[0] if len(ids) == 1 else ids)
            if "request_id" in ctx:
                out.setdefault("request_id", ctx["request_id"])
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=str))


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The logging dictConfig for the service and uvicorn (give it to uvicorn.run as log_config)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "api.web.observability.JsonFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "null": {"class": "logging.NullHandler"},
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            # iotsec_triage.access replaces it: it knows the route template and the decision.
            "uvicorn.access": {"level": "WARNING", "handlers": ["null"], "propagate": False},
            "iotsec_triage": {"level": level, "handlers": [], "propagate": True},
            "alembic": {"level": "WARNING", "handlers": [], "propagate": True},
        },
    }


def _drained(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def prepare_serving(workers: int) -> dict[str, Any]:
    """Before uvicorn starts: metrics shared by several workers, and the JSON logging config."""
    # uvicorn re-raises SIGTERM once it has drained the requests in flight; a drained stop is a clean exit.
    signal.signal(signal.SIGTERM, _drained)
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        directory = tempfile.mkdtemp(prefix="iotsec-metrics-")
        os.environ[MULTIPROC_ENV] = directory  # the workers are new processes: they inherit it
        atexit.register(shutil.rmtree, directory, True)
    return logging_config(os.environ.get("IOTSEC_LOG_LEVEL", "INFO").upper())


# -- the middleware -------------------------------------------------------------------------------


def note_decisions(answer: Any) -> None:
    """Count the decisions of an API answer (one decision, or a batch) and tie their ids to this request's logs."""
    results = getattr(answer, "results", None)
    decisions = (
        [answer] if results is None else [r.decision for r in results if getattr(r, "decision", None) is not None]
    )
    homes: Tally[str] = Tally(str(d.home) for d in decisions if getattr(d, "home", None) is not None)
    for home, n in homes.items():
        DECISIONS.labels(home).inc(n)
    ctx = _request.get()
    if ctx is not None:
        ids = ctx.setdefault("decision_ids", [])
        ids.extend(
            str(d.decision_id) for d in decisions[: MAX_IDS_LOGGED - len(ids)] if getattr(d, "decision_id", None)
        )


def _fixed_paths(app: Any) -> set[str]:
    """The app's paths without parameters, from its OpenAPI document (public, and cached by FastAPI)."""
    try:
        paths = set(app.openapi().get("paths", {}))
    except Exception:  # an app without a schema still gets counted, under UNMATCHED
        paths = set()
    paths.update(p for p in (getattr(r, "path", None) for r in getattr(app, "routes", ())) if isinstance(p, str))
    return {p for p in paths if "{" not in p}


class Observability:
    """Counts and times every HTTP request by route template, and writes its JSON access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._static_paths: set[str] | None = None
        self._seq = 0

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        # Refused before routing (a body over the limit): name the route when the path is a fixed one.
        if self._static_paths is None:
            self._static_paths = _fixed_paths(scope.get("app"))
        return scope["path"] if scope["path"] in self._static_paths else UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        self._seq += 1
        ctx: dict[str, Any] = {"request_id": f"{os.getpid():x}-{self._seq:x}"}
        token = _request.set(ctx)
        status = 500  # what the server sends when the app raises before answering

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            elapsed = time.perf_counter() - start
            method = scope["method"]
            route = self._route(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            if route == RELOAD_ROUTE and method == "POST" and status in (200, 422):
                # The reload route answers 200 when the new rules serve and 422 when they were refused.
                RELOADS.labels("succeeded" if status == 200 else "failed").inc()
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )
            _request.reset(token)


# -- the endpoint ----------------------------------------------------------------------------------

router = APIRouter(tags=["ops"])


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus text exposition of the service's metrics (every worker's, in multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middleware and GET /metrics to the app, and keep its tokens out of the logs."""
    register_secrets(t.get_secret_value() for t in (settings.admin_token, settings.staff_token) if t is not None)
    app.include_router(router)
    app.add_middleware(Observability)
