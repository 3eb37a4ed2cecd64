"""Rule-set status and live reload (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.runtime.holder import public_issues
from api.web.deps import Admin, HolderDep
from api.web.errors import issue_detail

router = APIRouter(prefix="/v1/rules", tags=["rules"])


@router.get("", summary="Version, revision and load time of the serving rules, and the last failed reload")
def rules_status(holder: HolderDep) -> dict[str, Any]:
    return holder.status()


@router.post(
    "/reload", dependencies=[Admin], summary="Load the rule directory again; the old rules keep serving on failure"
)
async def rules_reload(holder: HolderDep) -> JSONResponse:
    fresh, issues = await run_in_threadpool(holder.reload)
    if fresh is None:
        return JSONResponse(
            status_code=422,
            content={
                "reloaded": False,
                "detail": issue_detail(public_issues(issues, holder.directory)),
                "serving": {"version": holder.current.version, "revision": holder.current.revision},
            },
        )
    return JSONResponse(
        {"reloaded": True, "version": fresh.version, "revision": fresh.revision, "rules": len(fresh.rules)}
    )
