"""Request body limits, enforced before a body is parsed, as a plain ASGI middleware (cheap)."""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from fastapi import HTTPException  # detail may be structured (a list of located errors)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _TooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so that FastAPI's body reader passes it on as 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, [{"loc": ["body"], "msg": f"request body is over the {limit}-byte limit", "type": "body_too_large"}])


class BodyLimit:
    """413 for bodies over the limit: at once from Content-Length, or while streaming."""

    def __init__(self, app: Callable[..., Awaitable[None]], default: int, per_path: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reject(send, 400, "Content-Length is not a number", "bad_request")
                    return
                if declared > limit:
                    await _reject(send, 413, f"request body of {declared} bytes is over the {limit}-byte limit", "body_too_large")
                    return
        seen = 0
        started = False

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(send, 413, f"request body is over the {limit}-byte limit", "body_too_large")


async def _reject(send: Send, status: int, msg: str, type_: str) -> None:
    body = json.dumps({"detail": [{"loc": ["body"], "msg": msg, "type": type_}]}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
