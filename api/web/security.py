"""Security headers on every response, as a plain ASGI middleware (no BaseHTTPMiddleware: it is cheap).

Every response carries a Content-Security-Policy without inline scripts, X-Content-Type-Options,
Referrer-Policy and X-Frame-Options. A header the route already set (the pages send a stricter
policy of their own) is left as it is.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'")
# The landscape report is one self-contained HTML file (also saved and mailed as such), so its
# styles are inline; scripts stay forbidden there too.
REPORT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
              "frame-ancestors 'none'")
# FastAPI's interactive docs page is built from an inline script; it gets every header but the policy.
NO_CSP_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")

_CSP_NAME = b"content-security-policy"


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
                body = json.dumps({"detail": [{"loc": ["header", "content-type"], "type": "unsupported_media_type",
                                               "msg": f"send the body as application/json (Content-Type was {shown})"}]}).encode()
                await send({"type": "http.response.start", "status": 415,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


ERROR_BODY = {
    "title": "ErrorBody",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "array", "items": {
        "type": "object", "required": ["loc", "msg", "type"],
        "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}, "type": {"type": "string"}},
    }}},
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
                responses.setdefault("default", {"description": "Refused or unavailable: what is wrong and where.", "content": ref})
        schema["x-errors-documented"] = True
        return schema

    app.openapi = openapi


def install(app: Any) -> None:
    """The JSON-only gate, the security headers (outside it, so its answers get them too), the documented errors."""
    app.add_middleware(JsonOnly)
    app.add_middleware(SecurityHeaders)
    document_errors(app)
