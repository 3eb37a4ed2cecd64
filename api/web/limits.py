"""Request body limits, enforced before a body is parsed, as a plain ASGI middleware (cheap):
the size (413) and, for JSON bodies, the nesting depth (400, at most MAX_JSON_DEPTH)."""
from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, Awaitable, Callable

from fastapi import HTTPException  # detail may be structured (a list of located errors)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# The service's own limit on how deeply a JSON body may nest arrays and objects (`[]` is 1 deep,
# `{"a": [1]}` 2). A proposal needs 2, a batch 4. Checked here, before any parser runs, so that the
# answer does not depend on the Python version's recursion limits (3.11 stops near 1,000 levels,
# 3.13 parses far more and leaves it to validation).
MAX_JSON_DEPTH = 64
TOO_DEEP_MSG = f"request body is nested too deeply: more than {MAX_JSON_DEPTH} levels of arrays and objects"
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEPS = str.maketrans({"[": "\x01", "{": "\x01", "]": "\xff", "}": "\xff"})


def nested_too_deeply(body: bytes) -> bool:
    """Whether `body` nests arrays and objects more than MAX_JSON_DEPTH deep (brackets inside strings
    do not count). Two byte counts when the body has few brackets. A body that is not text in a JSON
    encoding is not judged here: the parser then says what is wrong with it."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")  # as json.loads reads bytes
    except (UnicodeDecodeError, LookupError):
        return False
    steps = _NOT_BRACKET.sub("", _STRING.sub("", text)).translate(_STEPS).encode("latin-1")
    depth: int = max(accumulate(memoryview(steps).cast("b")), default=0)  # +1 per opening, -1 per closing
    return depth > MAX_JSON_DEPTH


def _is_json(scope: Scope) -> bool:
    """The bodies FastAPI parses as JSON: no Content-Type, application/json or application/*+json."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
    return True


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
        if _is_json(scope):
            await self._json(scope, receive, send, limit)
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

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A JSON body is read whole here (the parser would read it whole anyway), refused when it is
        over the size limit (as it arrives) or too deep, and handed on as one message."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay(message, receive), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await _reject(send, 413, f"request body is over the {limit}-byte limit", "body_too_large")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if nested_too_deeply(body):
            await _reject(send, 400, TOO_DEEP_MSG, "too_deep")
            return
        await self.app(scope, _replay({"type": "http.request", "body": body, "more_body": False}, receive), send)


def _replay(first: dict[str, Any], receive: Receive) -> Receive:
    """`receive` that gives `first`, then whatever the client sends next (e.g. http.disconnect)."""
    pending = [first]

    async def replayed() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed


async def _reject(send: Send, status: int, msg: str, type_: str) -> None:
    body = json.dumps({"detail": [{"loc": ["body"], "msg": msg, "type": type_}]}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
