"""Every error the service answers, in one shape: {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}.

The one mapping of the project's exceptions to HTTP: routes raise `http_error(...)` or let a
TriageError through, and the handlers below give it its status and body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.decision_log import LogUnavailable, NotFound
from api.runtime.holder import public_issues
from engine.errors import EngineError, InputError, LoadError, RuleIssue

log = logging.getLogger("iotsec_triage.api")
MAX_SHOWN_INPUT = 120


def error_body(msg: str, type_: str, loc: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"loc": loc or [], "msg": msg, "type": type_}
    item.update(extra)
    return {"detail": [item]}


def http_error(
    status: int, msg: str, type_: str, loc: list[Any] | None = None, headers: dict[str, str] | None = None
) -> StarletteHTTPException:
    """An HTTPException whose body is the one error shape (raise it from a route)."""
    detail: Any = [{"loc": loc or [], "msg": msg, "type": type_}]  # the handler below answers it as is
    return StarletteHTTPException(status, detail, headers=headers)


def issue_detail(issues: list[RuleIssue]) -> list[dict[str, Any]]:
    """Located file problems in the error shape (pass them through public_issues: no server path)."""
    return [dict(i.as_dict(), loc=[i.file, i.line, i.column], msg=str(i), type="rule_load_error") for i in issues]


def shown(text: str) -> str:
    """Text safe to put in an answer: a lone surrogate (no Unicode character, so no UTF-8) as its escape."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without echoing large inputs back, and with JSON-safe values."""
    out = []
    for e in errors:
        loc = [part if isinstance(part, int) else shown(str(part)) for part in e.get("loc", ())]
        item: dict[str, Any] = {"loc": loc, "msg": shown(str(e.get("msg", ""))), "type": str(e.get("type", ""))}
        if "input" in e and isinstance(e["input"], (str, int, float, bool)) and e.get("type") != "missing":
            text = (
                str(e["input"])
                if not isinstance(e["input"], int) or abs(e["input"]) < 10**200
                else "(a very long number)"
            )
            item["input"] = shown(text if len(text) <= MAX_SHOWN_INPUT else text[:MAX_SHOWN_INPUT] + "...")
        out.append(item)
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": clean_errors(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        cause = exc.__cause__
        if exc.status_code == 400 and cause is not None:
            # FastAPI's body reader hides why a body could not be parsed; say it plainly.
            if isinstance(cause, UnicodeDecodeError):
                return JSONResponse(
                    error_body(f"request body is not valid UTF-8 (byte {cause.start})", "invalid_encoding", ["body"]),
                    400,
                )
            if isinstance(cause, RecursionError):
                return JSONResponse(error_body("request body is nested too deeply", "too_deep", ["body"]), 400)
            if isinstance(cause, ValueError):  # e.g. a number of more than 4300 digits
                return JSONResponse(
                    error_body(f"request body is not valid JSON: {str(cause).split(';')[0]}", "json_invalid", ["body"]),
                    400,
                )
        detail = (
            exc.detail if isinstance(exc.detail, list) else [{"loc": [], "msg": str(exc.detail), "type": "http_error"}]
        )
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "input_error", [exc.where] if exc.where else []), status_code=422)

    @app.exception_handler(LoadError)
    async def _load(_: Request, exc: LoadError) -> JSONResponse:
        return JSONResponse({"detail": issue_detail(public_issues(exc.issues, None))}, status_code=422)

    @app.exception_handler(LogUnavailable)
    async def _log_unavailable(_: Request, exc: LogUnavailable) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "log_unavailable"), status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(error_body(str(exc), "not_found", ["path", "decision_id"]), status_code=404)

    @app.exception_handler(EngineError)
    async def _engine(_: Request, exc: EngineError) -> JSONResponse:
        log.error("engine error: %s", exc)
        return JSONResponse(error_body("the rule engine failed on this request", "engine_error"), status_code=503)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(error_body("internal error", "internal_error"), status_code=500)
