"""Dependencies declared once: the serving rule set, the registry, the settings, token checks.

The getters are `async def` on purpose: FastAPI runs a plain `def` dependency in the threadpool,
a thread hop per dependency per request for what is an attribute read."""
from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from api.settings import Settings
from engine import RuleHolder, RuleSet


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_holder(request: Request) -> RuleHolder:
    return request.app.state.holder  # type: ignore[no-any-return]


async def get_rules(request: Request) -> RuleSet:
    """The rule set for this request, taken once: a reload never changes it mid-request."""
    return request.app.state.holder.current  # type: ignore[no-any-return]


async def get_registry(request: Request) -> Any:
    return getattr(request.app.state, "registry", None)


def _check_token(request: Request, expected: Any, role: str) -> None:
    if expected is None:
        raise HTTPException(404, [{"loc": [], "msg": f"{role} endpoints are off: no {role} token is configured", "type": "disabled"}])
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, [{"loc": ["header", "authorization"], "msg": "a Bearer token is required", "type": "unauthorized"}],
                            headers={"WWW-Authenticate": "Bearer"})
    if not secrets.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise HTTPException(403, [{"loc": ["header", "authorization"], "msg": "token refused", "type": "forbidden"}])


def require_admin(request: Request) -> None:
    _check_token(request, request.app.state.settings.admin_token, "admin")


def require_staff(request: Request) -> None:
    settings = request.app.state.settings
    # The admin token also opens staff endpoints: an administrator can do what staff do.
    if settings.admin_token is not None and settings.staff_token is not None:
        header = request.headers.get("authorization", "")
        token = header.partition(" ")[2]
        if token and secrets.compare_digest(token.encode(), settings.admin_token.get_secret_value().encode()):
            return
    _check_token(request, settings.staff_token, "staff")


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
HolderDep = Annotated[RuleHolder, Depends(get_holder)]
RulesDep = Annotated[RuleSet, Depends(get_rules)]
RegistryDep = Annotated[Any, Depends(get_registry)]
Admin = Depends(require_admin)
Staff = Depends(require_staff)
