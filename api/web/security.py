"""Security headers on every response, as a plain ASGI middleware (no BaseHTTPMiddleware: it is cheap).

Every response carries a Content-Security-Policy without inline scripts, X-Content-Type-Options,
Referrer-Policy and X-Frame-Options. A header the route already set (the pages send a stricter
policy of their own) is left as it is.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
# The landscape report is one self-contained HTML file (also saved and mailed as such), so its
# styles are inline; scripts stay forbidden there too.
REPORT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'"
)
# FastAPI's interactive docs page is built from an inline script; it gets every header but the policy.
NO_CSP_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")

_CSP_NAME = b"content-security-policy"
log = logging.getLogger("iotsec_triage.security")


def _headers(csp: str | None) -> list[tuple[bytes, bytes]]:
    out = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]
    if csp is not None:
        out.append((_CSP_NAME, csp.encode()))
    return out


class SecurityHeaders:
    """Adds the security headers to every HTTP response that does not already set them."""

    def __init__(self, app: ASGIApp, csp: str = CSP, per_path: dict[str, str | None] | None = None) -> None:
        self.app = app
        self.default = _headers(csp)
        overrides: dict[str, str | None] = {"/v1/landscape": REPORT_CSP, **{p: None for p in NO_CSP_PATHS}}
        overrides.update(per_path or {})
        self.per_path = {path: _headers(value) for path, value in overrides.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.per_path.get(scope["path"], self.default)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


JSON_BODY_PATHS = ("/v1/triage", "/v1/triage/batch")


class JsonOnly:
    """415, before anything is read, for a POST to a JSON endpoint whose Content-Type is not JSON."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = JSON_BODY_PATHS) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            ctype = b""
            for name, value in scope.get("headers", ()):
                if name == b"content-type":
                    ctype = value
                    break
            media = ctype.split(b";", 1)[0].strip().lower()
            if media != b"application/json":
                shown = media.decode("latin-1")[:80] or "none"
                body = json.dumps(
                    {
                        "detail": [
                            {
                                "loc": ["header", "content-type"],
                                "type": "unsupported_media_type",
                                "msg": f"send the body as application/json (Content-Type was {shown})",
                            }
                        ]
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 415,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


ERROR_BODY = {
    "title": "ErrorBody",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}, "type": {"type": "string"}},
            },
        }
    },
}
_REFUSALS = {
    "400": "The body is not JSON, not UTF-8, or nested too deeply.",
    "413": "The body, or the number of items in a batch, is over the limit.",
    "415": "The body is not sent as application/json.",
}


def document_errors(app: Any) -> None:
    """Declare in the OpenAPI document the answers the middlewares give (400, 413, 415) and the one
    error shape every other refusal has (`default`), so that clients and schema checks know them."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = generate()
        if schema.get("x-errors-documented"):
            return schema
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = ERROR_BODY
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                if "requestBody" in operation:
                    for code in ("400", "413") + (("415",) if path in JSON_BODY_PATHS and method == "post" else ()):
                        responses.setdefault(code, {"description": _REFUSALS[code], "content": ref})
                responses.setdefault(
                    "default", {"description": "Refused or unavailable: what is wrong and where.", "content": ref}
                )
        schema["x-errors-documented"] = True
        return schema

    app.openapi = openapi


def install(app: Any) -> None:
    """The JSON-only gate, the security headers (outside it, so its answers get them too), the documented errors."""
    app.add_middleware(JsonOnly)
    app.add_middleware(SecurityHeaders)
    document_errors(app)


# -- login throttling ------------------------------------------------------------------------------


class Throttle:
    """Failed token attempts counted per client address and in all, over a sliding window: past
    `per_client` failures from one address, or `overall` from all of them, tokens are not even
    compared until the window has moved on (429 with Retry-After). Memory is bounded: at most
    `max_clients` addresses are followed (the oldest dropped first), each with at most `per_client`
    times."""

    def __init__(
        self,
        per_client: int = 10,
        overall: int = 100,
        window: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.per_client, self.overall, self.window, self.max_clients = per_client, overall, window, max_clients
        self._clock = clock or time.monotonic
        self._clients: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._all: collections.deque[float] = collections.deque(maxlen=overall)
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float | None:
        """Seconds until `client` may try a token again, or None when it may now."""
        now = self._clock()
        with self._lock:
            waits = []
            mine = self._clients.get(client)
            if mine is not None and len(mine) >= self.per_client and now - mine[0] < self.window:
                waits.append(mine[0] + self.window - now)
            if len(self._all) >= self.overall and now - self._all[0] < self.window:
                waits.append(self._all[0] + self.window - now)
            return max(waits) if waits else None

    def failed(self, client: str) -> None:
        """Count one refused token from `client`."""
        now = self._clock()
        with self._lock:
            mine = self._clients.pop(client, None)
            if mine is None:
                mine = collections.deque(maxlen=self.per_client)
            mine.append(now)
            self._clients[client] = mine  # most recent last
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
            self._all.append(now)

    def succeeded(self, client: str) -> None:
        """A right token from `client`: its own count starts again."""
        with self._lock:
            self._clients.pop(client, None)


def client_address(scope_or_request: Any) -> str:
    """The address a request came from (uvicorn's proxy_headers setting decides whether to trust X-Forwarded-For)."""
    client = getattr(scope_or_request, "client", None)
    return str(client[0]) if client else "unknown"


# -- server-side end of sessions -------------------------------------------------------------------


class RevokedSessions:
    """Session ids ended by logout, until their cookies would have expired anyway. Kept in a file in
    the data directory (shared by every worker, and kept over a restart), else in memory; read
    again whenever the file changes (one stat per check)."""

    def __init__(self, path: Path, max_age: float) -> None:
        self.path = Path(path)
        self.max_age = max_age
        self._ids: dict[str, float] = {}
        self._seen: tuple[int, int, int] | None = None

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError:
            return
        mark = (st.st_ino, st.st_size, st.st_mtime_ns)
        if mark == self._seen:
            return
        now = time.time()
        try:
            lines = self.path.read_text().splitlines()
        except OSError:
            return
        for line in lines:
            sid, _, until = line.partition(" ")
            try:
                if float(until) > now:
                    self._ids[sid] = float(until)
            except ValueError:
                continue
        self._seen = mark

    def revoked(self, sid: str) -> bool:
        """Whether the session `sid` was ended."""
        self._refresh()
        until = self._ids.get(sid)
        return until is not None and until > time.time()

    def revoke(self, sid: str) -> None:
        """End the session `sid` (on every worker: they read the same file)."""
        now = time.time()
        until = now + self.max_age
        self._ids = {k: v for k, v in self._ids.items() if v > now}
        self._ids[sid] = until
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(f"{sid} {until:.0f}\n")  # one short append: whole, even with several writers
        except OSError as exc:
            log.warning("cannot store a logout in the data directory (%s); it holds in this process only", exc.strerror)
