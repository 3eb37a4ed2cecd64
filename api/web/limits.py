"""Request body limits, enforced before a body is parsed, as a plain ASGI middleware (cheap):
the size (413), the time the client takes to send it (408, at most `timeout` seconds for the whole
body), and for JSON bodies the nesting depth (400, at most MAX_JSON_DEPTH) and lone UTF-16
surrogate escapes (422 naming where: "\\ud800" alone is no Unicode character, and no part of the
service could store or answer it; every endpoint, before any model or the decision log sees it)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from itertools import accumulate
from typing import Any

import anyio
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


_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE = re.compile("[\ud800-\udfff]")


def lone_surrogate(body: bytes) -> tuple[list[str | int], int, int] | None:
    """Where `body` has a lone UTF-16 surrogate escape ("\\ud800" that is not half of a pair):
    (the path of the key or string in it, the code point, its offset in the string), else None.
    One regex search when the body has no such escape; parsed only when it has one."""
    if _SURROGATE_HINT.search(body) is None:
        return None
    try:
        data = json.loads(body)  # nesting was checked first; a pair becomes one character here
    except ValueError:
        return None  # the parser will say what is wrong
    stack: list[tuple[list[str | int], Any]] = [([], data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            found = _LONE.search(value)
            if found:
                return path, ord(found.group()), found.start()
        elif isinstance(value, dict):
            for key in value:
                found = _LONE.search(key)
                if found:
                    return [*path, key], ord(found.group()), found.start()
            stack.extend(([*path, k], v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend(([*path, i], v) for i, v in reversed(list(enumerate(value))))
    return None


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
        super().__init__(
            413, [{"loc": ["body"], "msg": f"request body is over the {limit}-byte limit", "type": "body_too_large"}]
        )


class _TimedOut(HTTPException):
    """Raised from `receive` when the body is not in by the deadline (as _TooLarge, for FastAPI's reader)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, [{"loc": ["body"], "msg": _slow_msg(seconds), "type": "body_timeout"}])


def _slow_msg(seconds: float) -> str:
    return f"the request body did not arrive within {seconds:g} seconds"


class BodyLimit:
    """413 for bodies over the limit: at once from Content-Length, or while streaming; 408 for a
    body that is not all in within `timeout` seconds of the request's start (slow senders hold a
    connection and a task each: uvicorn's keep-alive timeout does not cover a body)."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], default: int, per_path: dict[str, int], timeout: float = 10.0
    ) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path
        self.timeout = timeout

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
                    await _reject(
                        send, 413, f"request body of {declared} bytes is over the {limit}-byte limit", "body_too_large"
                    )
                    return
        if _is_json(scope):
            await self._json(scope, receive, send, limit)
            return
        seen = 0
        started = False
        deadline = anyio.current_time() + self.timeout
        body_done = False
        cut = False  # the body was cut short: the rest of it is still on the connection

        async def counted() -> dict[str, Any]:
            nonlocal seen, body_done, cut
            if body_done:  # after the body, receive() waits for a disconnect: no deadline on that
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    message = await receive()
            except TimeoutError:
                cut = True
                raise _TimedOut(self.timeout) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    cut = True
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if cut:  # however the app answered the refusal, the connection cannot be reused
                    message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(send, 413, f"request body is over the {limit}-byte limit", "body_too_large")
        except _TimedOut:
            if not started:
                await _reject(send, 408, _slow_msg(self.timeout), "body_timeout")

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A JSON body is read whole here (the parser would read it whole anyway), refused when it is
        over the size limit (as it arrives), late, too deep or holds a lone surrogate, and handed on
        as one message."""
        chunks: list[bytes] = []
        seen = 0
        with anyio.move_on_after(self.timeout) as late:
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
        if late.cancelled_caught:
            await _reject(send, 408, _slow_msg(self.timeout), "body_timeout")
            return
        body = b"".join(chunks)
        if nested_too_deeply(body):
            await _reject(send, 400, TOO_DEEP_MSG, "too_deep")
            return
        lone = lone_surrogate(body)
        if lone is not None:
            path, code, offset = lone
            loc = ["body", *(p if isinstance(p, int) else p.encode("utf-8", "backslashreplace").decode() for p in path)]
            await _reject(
                send,
                422,
                f"lone surrogate U+{code:04X} at offset {offset} is not valid Unicode text "
                "(a \\uD800-\\uDFFF escape must be half of a pair)",
                "invalid_unicode",
                loc,
            )
            return
        await self.app(scope, _replay({"type": "http.request", "body": body, "more_body": False}, receive), send)


def _replay(first: dict[str, Any], receive: Receive) -> Receive:
    """`receive` that gives `first`, then whatever the client sends next (e.g. http.disconnect)."""
    pending = [first]

    async def replayed() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed


async def _reject(send: Send, status: int, msg: str, type_: str, loc: list[Any] | None = None) -> None:
    body = json.dumps({"detail": [{"loc": loc or ["body"], "msg": msg, "type": type_}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
