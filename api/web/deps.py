"""Dependencies declared once: the runtime (rules, registry, settings, decision log) and token checks.

The app keeps one typed object, `app.state.runtime` (api.runtime.bootstrap.Runtime); `runtime_of`
is the one place that reads it. The getters are `async def` on purpose: FastAPI runs a plain
`def` dependency in the threadpool, a thread hop per dependency per request for an attribute read."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from api.decision_log import DecisionLog
from api.runtime.bootstrap import Runtime
from api.runtime.holder import RuleHolder
from api.runtime.settings import Settings
from api.web.errors import http_error
from api.web.security import client_address
from engine import RuleSet
from engine.registry import Registry


def runtime_of(request: Request) -> Runtime:
    """The app's runtime (set by create_app)."""
    rt: Runtime = request.app.state.runtime
    return rt


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_settings_dep(request: Request) -> Settings:
    return runtime_of(request).settings


async def get_holder(request: Request) -> RuleHolder:
    return runtime_of(request).holder


async def get_rules(request: Request) -> RuleSet:
    """The rule set for this request, taken once: a reload never changes it mid-request."""
    return runtime_of(request).rules


async def get_registry(request: Request) -> Registry | None:
    return runtime_of(request).registry


async def get_log(request: Request) -> DecisionLog:
    return runtime_of(request).decision_log()


def _check_throttle(request: Request) -> None:
    """429 while the client (or everyone) has had too many tokens refused: no token is compared then."""
    throttle = getattr(request.app.state, "token_throttle", None)
    wait = throttle.retry_after(client_address(request)) if throttle is not None else None
    if wait is not None:
        raise http_error(
            429,
            f"too many refused tokens; try again in {int(wait) + 1} seconds",
            "throttled",
            ["header", "authorization"],
            headers={"Retry-After": str(int(wait) + 1)},
        )


def _check_token(request: Request, expected: SecretStr | None, role: str) -> None:
    if expected is None:
        raise http_error(404, f"{role} endpoints are off: no {role} token is configured", "disabled")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise http_error(
            401,
            "a Bearer token is required",
            "unauthorized",
            ["header", "authorization"],
            headers={"WWW-Authenticate": "Bearer"},
        )
    _check_throttle(request)
    if not secrets.compare_digest(token.encode(), expected.get_secret_value().encode()):
        throttle = getattr(request.app.state, "token_throttle", None)
        if throttle is not None:
            throttle.failed(client_address(request))
        raise http_error(403, "token refused", "forbidden", ["header", "authorization"])


# Declares the bearer scheme in OpenAPI (the Authorize button of /docs); the checks below read the
# header themselves, so that a missing or refused token keeps the one error shape.
_admin_bearer = HTTPBearer(auto_error=False, scheme_name="admin", description="IOTSEC_ADMIN_TOKEN")
_staff_bearer = HTTPBearer(
    auto_error=False, scheme_name="staff", description="IOTSEC_STAFF_TOKEN (the admin token works too)"
)


def require_admin(request: Request, _: HTTPAuthorizationCredentials | None = Depends(_admin_bearer)) -> None:
    _check_token(request, runtime_of(request).settings.admin_token, "admin")


def require_staff(request: Request, _: HTTPAuthorizationCredentials | None = Depends(_staff_bearer)) -> None:
    settings = runtime_of(request).settings
    # The admin token also opens staff endpoints: an administrator can do what staff do.
    if settings.admin_token is not None and settings.staff_token is not None:
        _check_throttle(request)
    if settings.admin_token is not None and settings.staff_token is not None:
        header = request.headers.get("authorization", "")
        token = header.partition(" ")[2]
        if token and secrets.compare_digest(token.encode(), settings.admin_token.get_secret_value().encode()):
            return
    _check_token(request, settings.staff_token, "staff")


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
HolderDep = Annotated[RuleHolder, Depends(get_holder)]
RulesDep = Annotated[RuleSet, Depends(get_rules)]
RegistryDep = Annotated[Registry | None, Depends(get_registry)]
LogDep = Annotated[DecisionLog, Depends(get_log)]
Admin = Depends(require_admin)
Staff = Depends(require_staff)
