"""The web pages: `/` for submitters (A.1 text or fields -> decision) and `/queue` for staff review.

Plain HTML forms, no scripts. A signed session cookie (HttpOnly, SameSite=Strict) carries a CSRF
token that every POST form echoes in a hidden field, and, after login with the staff token, the
staff role. Every page is sent with a Content-Security-Policy that allows no inline script.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.decision_log import DecisionFilter, LogUnavailable, NotFound, ReviewRequest, decide
from api.runtime.bootstrap import Runtime
from api.web.deps import runtime_of
from api.web.security import RevokedSessions, Throttle, client_address
from engine.intake.records import describe_validation
from engine import InputError, Proposal
from engine.intake.a1text import parse_a1

log = logging.getLogger("iotsec_triage.pages")
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

COOKIE = "iotsec_session"
SESSION_MAX_AGE = 8 * 3600
HOMES = ["SG17", "SG20", "joint", "other", "undetermined"]
FLAGS = ["JOINT_WORK", "OVERLAP_EXISTING_WORK", "COORDINATE_Q6_17_Q6_20", "NEEDS_REVIEW", "OUT_OF_SCOPE"]
STATUSES = ["open", "confirmed", "overridden", "reviewed"]
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
LIST_FIELDS = ("keywords", "questions", "relations", "liaisons")


# -- session and CSRF --------------------------------------------------------------------------

def _secret(settings: Any) -> bytes:
    """The signing key: a file in the data directory (shared by workers), made on first use."""
    path = Path(settings.data_dir) / "session.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        log.warning("cannot store the session key in %s (%s); sessions last until restart", path, exc.strerror)
    return key


_SERIALIZERS: "weakref.WeakKeyDictionary[Runtime, URLSafeTimedSerializer]" = weakref.WeakKeyDictionary()


def _serializer(request: Request) -> URLSafeTimedSerializer:
    rt = runtime_of(request)
    found = _SERIALIZERS.get(rt)
    if found is None:
        found = _SERIALIZERS[rt] = URLSafeTimedSerializer(_secret(rt.settings), salt="iotsec-session")
    return found


_REVOKED: "weakref.WeakKeyDictionary[Runtime, RevokedSessions]" = weakref.WeakKeyDictionary()


def _revoked(request: Request) -> RevokedSessions:
    """The sessions ended by logout, shared by the workers through the data directory."""
    rt = runtime_of(request)
    found = _REVOKED.get(rt)
    if found is None:
        found = _REVOKED[rt] = RevokedSessions(Path(rt.settings.data_dir) / "ended-sessions", SESSION_MAX_AGE)
    return found


def _throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.token_throttle
    return throttle


def _token_print(token: str) -> str:
    # The session names which staff token it was opened with, so a changed token ends it.
    return hashlib.sha256(b"iotsec-staff:" + token.encode()).hexdigest()[:32]


def _staff_prints(settings: Any) -> set[str]:
    return {_token_print(t.get_secret_value()) for t in (settings.staff_token, settings.admin_token) if t is not None}


def _session(request: Request) -> dict[str, Any]:
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(request).loads(raw, max_age=SESSION_MAX_AGE)
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                return data
        except BadSignature:
            pass
    return {"csrf": secrets.token_urlsafe(32)}


def _is_staff(request: Request, session: dict[str, Any]) -> bool:
    # A staff session names its token and its own id; logout ends the id on the server, so a cookie
    # kept from before the logout opens nothing.
    staff, sid = session.get("staff"), session.get("sid")
    return (isinstance(staff, str) and staff in _staff_prints(runtime_of(request).settings)
            and isinstance(sid, str) and not _revoked(request).revoked(sid))


def _finish(request: Request, response: Response, session: dict[str, Any]) -> Response:
    response.set_cookie(COOKIE, _serializer(request).dumps(session), max_age=SESSION_MAX_AGE, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _render(request: Request, session: dict[str, Any], template: str, status: int = 200, **context: Any) -> Response:
    context.update(csrf=session["csrf"], staff=_is_staff(request, session), staff_enabled=_staff_enabled(request))
    return _finish(request, templates.TemplateResponse(request, template, context, status_code=status), session)


def _staff_enabled(request: Request) -> bool:
    return runtime_of(request).settings.staff_token is not None


async def _form(request: Request, session: dict[str, Any]) -> dict[str, str] | None:
    """The posted form as plain strings, or None when its CSRF token does not match the session's."""
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    sent = data.pop("csrf", "")
    if not sent or not hmac.compare_digest(sent.encode(), session["csrf"].encode()):
        return None
    return data


def _staff_off(request: Request, session: dict[str, Any]) -> Response:
    return _render(request, session, "message.html", 404, title="Staff pages are off",
                   message="No staff token is configured on this server (IOTSEC_STAFF_TOKEN).")


def _csrf_failed(request: Request, session: dict[str, Any]) -> Response:
    return _render(request, session, "message.html", 403, title="Form expired",
                   message="The form could not be accepted (its security token did not match). Reload the page and try again.")


# -- static ------------------------------------------------------------------------------------

@router.get("/static/{name}")
def static(name: str) -> Response:
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


# -- submitters --------------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    session = _session(request)
    return _render(request, session, "index.html", mode="text", values={}, a1_text="")


def _split(value: str) -> list[str]:
    parts = [p.strip() for chunk in value.splitlines() for p in chunk.split(";")]
    return [p for p in parts if p]


@router.post("/", response_class=HTMLResponse)
async def index_submit(request: Request) -> Response:
    session = _session(request)
    form = await _form(request, session)
    if form is None:
        return _csrf_failed(request, session)
    mode = "fields" if form.get("mode") == "fields" else "text"
    context: dict[str, Any] = {"mode": mode, "values": form, "a1_text": form.get("a1_text", "")}
    parsed = None
    try:
        if mode == "text":
            parsed = parse_a1(form.get("a1_text", ""))
            proposal = parsed.proposal
        else:
            data: dict[str, Any] = {k: form.get(k, "") for k in ("title", "summary", "scope", "reference", "submitter")}
            for k in LIST_FIELDS:
                data[k] = _split(form.get(k, "").replace(",", ";") if k in ("keywords", "questions") else form.get(k, ""))
            proposal = Proposal.model_validate(data)
    except InputError as exc:
        return _render(request, session, "index.html", 422, errors=[str(exc)], **context)
    except ValidationError as exc:
        return _render(request, session, "index.html", 422, errors=[describe_validation(exc)], **context)
    rt = runtime_of(request)
    rules = rt.rules
    log_, write = rt.log_for_request()
    decision, note = await run_in_threadpool(decide, log_, proposal, rules, rt.registry, "web", write)
    return _render(request, session, "index.html", decision=decision, parsed=parsed, proposal=proposal, log_note=note,
                   question_titles=rules.questions, **context)


# -- staff -------------------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    session = _session(request)
    if not _staff_enabled(request):
        return _staff_off(request, session)
    return _render(request, session, "login.html")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    session = _session(request)
    form = await _form(request, session)
    if form is None:
        return _csrf_failed(request, session)
    if not _staff_enabled(request):
        return _staff_off(request, session)
    token = form.get("token", "")
    name = form.get("name", "").strip()[:200]
    client = client_address(request)
    wait = _throttle(request).retry_after(client)
    if wait is not None:
        response = _render(request, session, "login.html", 429, name=name,
                           error=f"Too many refused tokens; try again in {int(wait) + 1} seconds.")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    printed = _token_print(token)
    if not token or not any(hmac.compare_digest(printed, p) for p in _staff_prints(runtime_of(request).settings)):
        _throttle(request).failed(client)
        return _render(request, session, "login.html", 403, error="That token was refused.", name=name)
    _throttle(request).succeeded(client)
    # A fresh session (and CSRF token) on login: nothing from before the login carries over.
    new = {"csrf": secrets.token_urlsafe(32), "staff": printed, "name": name, "sid": secrets.token_urlsafe(18)}
    return _finish(request, RedirectResponse("/queue", status_code=303), new)


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = _session(request)
    if await _form(request, session) is None:
        return _csrf_failed(request, session)
    if isinstance(session.get("sid"), str):
        _revoked(request).revoke(session["sid"])  # the cookie may have been copied: end it here, not only in the browser
    return _finish(request, RedirectResponse("/", status_code=303), {"csrf": secrets.token_urlsafe(32)})


def _filters(params: Any) -> dict[str, str]:
    keep = ("flag", "home", "status", "text", "since", "until")
    return {k: str(params.get(k)).strip() for k in keep if params.get(k) and str(params.get(k)).strip()}


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request) -> Response:
    session = _session(request)
    if not _staff_enabled(request):
        return _staff_off(request, session)
    if not _is_staff(request, session):
        return _finish(request, RedirectResponse("/login", status_code=303), session)
    filters = _filters(request.query_params)
    errors: list[str] = []
    try:
        flt = DecisionFilter(sort="priority", limit=200, **filters)  # type: ignore[arg-type]
    except ValidationError as exc:
        errors = [describe_validation(exc, "filter", tuple(DecisionFilter.model_fields))]
        flt = DecisionFilter(sort="priority", limit=200, offset=0)
    try:
        page = runtime_of(request).decision_log().list(flt)
    except LogUnavailable as exc:
        return _render(request, session, "message.html", 503, title="Decision log unavailable", message=str(exc))
    return _render(request, session, "queue.html", page=page, filters=filters, errors=errors, homes=HOMES, flags=FLAGS,
                   statuses=STATUSES, reviewer=session.get("name", ""), done=request.query_params.get("done", ""),
                   query=urlencode(filters))


@router.post("/queue/{decision_id}/review", response_class=HTMLResponse)
async def queue_review(decision_id: str, request: Request) -> Response:
    session = _session(request)
    if not _is_staff(request, session):
        return _finish(request, RedirectResponse("/login", status_code=303), session)
    form = await _form(request, session)
    if form is None:
        return _csrf_failed(request, session)
    action = form.get("action", "")
    body: dict[str, Any] = {"action": action, "reason": form.get("reason", ""), "reviewer": form.get("reviewer", "")}
    if action == "override":
        body.update(home=form.get("home") or None, lead=form.get("lead") or None, other_sg=form.get("other_sg") or None,
                    questions=_split(form.get("questions", "").replace(",", ";")))
    # The queue's filters travel as back_* fields, apart from the review's own home/lead/status.
    back = _filters({k[len("back_"):]: v for k, v in form.items() if k.startswith("back_")})
    try:
        request_ = ReviewRequest.model_validate(body)
        await run_in_threadpool(runtime_of(request).decision_log().review, decision_id, request_)
    except ValidationError as exc:
        return _render(request, session, "message.html", 422, title="Review not recorded",
                       message=describe_validation(exc, "review", tuple(ReviewRequest.model_fields)),
                       back="/queue?" + urlencode(back))
    except NotFound:
        return _render(request, session, "message.html", 404, title="No such decision", message=decision_id, back="/queue")
    except LogUnavailable as exc:
        return _render(request, session, "message.html", 503, title="Decision log unavailable", message=str(exc))
    back["done"] = decision_id
    return _finish(request, RedirectResponse("/queue?" + urlencode(back) + f"#d-{decision_id}", status_code=303), session)
