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
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.decision_log import DecisionFilter, LogUnavailable, NotFound, ReviewRequest, apply_review, decide, need_of
from api.runtime.bootstrap import Runtime
from api.web import views
from api.web.deps import runtime_of
from api.web.routes.decisions import csv_lines
from api.web.security import RevokedSessions, Throttle, client_address
from engine import Decision, InputError, Proposal
from engine.intake.a1text import parse_a1
from engine.intake.files import read_upload
from engine.intake.records import describe_validation
from engine.labels import home_label, label_of

log = logging.getLogger("iotsec_triage.pages")
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(home_label=home_label, gloss=views.gloss)
router = APIRouter(include_in_schema=False)

COOKIE = "iotsec_session"
SESSION_MAX_AGE = 8 * 3600
HOMES = ["SG17", "SG20", "joint", "other", "undetermined"]
FLAGS = ["JOINT_WORK", "OVERLAP_EXISTING_WORK", "COORDINATE_Q6_17_Q6_20", "NEEDS_REVIEW", "OUT_OF_SCOPE"]
STATUSES = ["open", "confirmed", "overridden", "reviewed", "any"]
PER_PAGE = 50
MAX_UPLOAD = 10_000_000
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
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


T = TypeVar("T")
_PER_RUNTIME: weakref.WeakKeyDictionary[Runtime, dict[str, Any]] = weakref.WeakKeyDictionary()


def _per_runtime(request: Request, name: str, make: Callable[[Runtime], T]) -> T:
    """One object per app (its runtime) and name, made on first use."""
    rt = runtime_of(request)
    held = _PER_RUNTIME.setdefault(rt, {})
    if name not in held:
        held[name] = make(rt)
    found: T = held[name]
    return found


def _serializer(request: Request) -> URLSafeTimedSerializer:
    def make(rt: Runtime) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(_secret(rt.settings), salt="iotsec-session")

    return _per_runtime(request, "serializer", make)


def _revoked(request: Request) -> RevokedSessions:
    """The sessions ended by logout, shared by the workers through the data directory."""
    return _per_runtime(
        request, "revoked", lambda rt: RevokedSessions(Path(rt.settings.data_dir) / "ended-sessions", SESSION_MAX_AGE)
    )


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
    return (
        isinstance(staff, str)
        and staff in _staff_prints(runtime_of(request).settings)
        and isinstance(sid, str)
        and not _revoked(request).revoked(sid)
    )


def _finish(request: Request, response: Response, session: dict[str, Any]) -> Response:
    response.set_cookie(
        COOKIE,
        _serializer(request).dumps(session),
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
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


def _message(
    request: Request, session: dict[str, Any], status: int, *, title: str, message: str, back: str | None = None
) -> Response:
    """A page that says one thing: a refusal, an error, or what to do next."""
    return _render(request, session, "message.html", status, title=title, message=message, back=back)


def _staff_off(request: Request, session: dict[str, Any]) -> Response:
    return _message(
        request,
        session,
        404,
        title="Staff pages are off",
        message="No staff token is configured on this server (IOTSEC_STAFF_TOKEN).",
    )


def _csrf_failed(request: Request, session: dict[str, Any]) -> Response:
    return _message(
        request,
        session,
        403,
        title="Form expired",
        message="The form could not be accepted (its security token did not match). Reload the page and try again.",
    )


# -- static ------------------------------------------------------------------------------------


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


# -- submitters --------------------------------------------------------------------------------


def _answer_context(rt: Runtime, decision: Any, proposal: Any) -> dict[str, Any]:
    rules = rt.rules
    return {
        "decision": decision,
        "answer": views.answer(decision, proposal, rules),
        "values_read": views.values_read(proposal),
        "question_titles": rules.questions,
        "links": {w.id: views.source_link(rt.registry.by_id.get(w.id)) for w in decision.related_work}
        if rt.registry is not None
        else {},
    }


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
                data[k] = _split(
                    form.get(k, "").replace(",", ";") if k in ("keywords", "questions") else form.get(k, "")
                )
            proposal = Proposal.model_validate(data)
    except InputError as exc:
        return _render(request, session, "index.html", 422, errors=[str(exc)], **context)
    except ValidationError as exc:
        return _render(request, session, "index.html", 422, errors=[describe_validation(exc)], **context)
    rt = runtime_of(request)
    log_, write = rt.log_for_request()
    decision, note = await run_in_threadpool(
        decide, log_, proposal, rt.rules, rt.registry, "web", write, triage_with=rt.triage
    )
    return _render(
        request,
        session,
        "index.html",
        parsed=parsed,
        proposal=proposal,
        log_note=note,
        **_answer_context(rt, decision, proposal),
        **context,
    )


@router.post("/upload", response_class=HTMLResponse)
async def upload(request: Request) -> Response:
    """A file as staff or submitters receive it: an A.1 .docx or text, or a CSV/XLSX/JSON batch."""
    session = _session(request)
    form = await _form(request, session)
    if form is None:
        return _csrf_failed(request, session)
    multipart = await request.form()
    try:
        return await _upload(request, session, multipart.get("file"))
    finally:
        await multipart.close()  # the spooled upload file, at once


async def _upload(request: Request, session: dict[str, Any], raw: Any) -> Response:
    context: dict[str, Any] = {"mode": "file", "values": {}, "a1_text": ""}
    if raw is None or isinstance(raw, str) or not raw.filename:
        return _render(request, session, "index.html", 422, errors=["choose a file to upload"], **context)
    data = await raw.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _render(
            request,
            session,
            "index.html",
            413,
            errors=[f"{raw.filename}: larger than {MAX_UPLOAD // 1_000_000} MB"],
            **context,
        )
    records = [r for r in read_upload(data, raw.filename) if not r.warning]
    rt = runtime_of(request)
    log_, write = rt.log_for_request()
    good = [r for r in records if r.proposal is not None]
    if len(records) == 1 and good and (one := good[0].proposal) is not None:
        decision, note = await run_in_threadpool(
            decide, log_, one, rt.rules, rt.registry, "web", write, item_id=good[0].id, triage_with=rt.triage
        )
        return _render(
            request,
            session,
            "index.html",
            parsed=good[0].extra.get("a1"),
            proposal=one,
            log_note=note,
            uploaded=raw.filename,
            **_answer_context(rt, decision, one),
            **context,
        )
    rows: list[dict[str, Any]] = []
    for rec in records:
        if rec.proposal is None:
            rows.append({"where": rec.where, "id": rec.id, "error": rec.error})
            continue
        decision, note = await run_in_threadpool(
            decide, log_, rec.proposal, rt.rules, rt.registry, "web", write, item_id=rec.id, triage_with=rt.triage
        )
        rows.append(
            {
                "where": rec.where,
                "id": rec.id,
                "title": rec.proposal.title,
                "label": label_of(decision),
                "questions": decision.questions,
                "decision_id": decision.decision_id if note in ("recorded", "existing") else "",
            }
        )
    status = 200 if good else 422
    return _render(
        request,
        session,
        "index.html",
        status,
        uploaded=raw.filename,
        upload_rows=rows,
        errors=[] if good else [f"{raw.filename}: no proposal could be read"],
        **context,
    )


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
def decision_page(decision_id: str, request: Request) -> Response:
    """The stable link of one decision: what was sent and the answer that stands; nothing staff-only."""
    session = _session(request)
    rt = runtime_of(request)
    try:
        rec = rt.decision_log().get(decision_id) if len(decision_id) <= 64 else None
    except LogUnavailable as exc:
        return _message(request, session, 503, title="Decision log unavailable", message=str(exc))
    if rec is None:
        return _message(
            request,
            session,
            404,
            title="No such decision",
            message="There is no decision with this id (the link may be mistyped).",
        )
    decision = apply_review(Decision.model_validate(rec.result), rec.reviews[-1] if rec.reviews else None, rt.rules)
    return _render(
        request,
        session,
        "decision.html",
        record=rec,
        sent=views.values_read(rec.proposal),
        proposal=rec.proposal,
        **_answer_context(rt, decision, rec.proposal),
    )


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
        response = _render(
            request,
            session,
            "login.html",
            429,
            name=name,
            error=f"Too many refused tokens; try again in {int(wait) + 1} seconds.",
        )
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
        _revoked(request).revoke(
            session["sid"]
        )  # the cookie may have been copied: end it here, not only in the browser
    return _finish(request, RedirectResponse("/", status_code=303), {"csrf": secrets.token_urlsafe(32)})


def _filters(params: Any) -> dict[str, str]:
    keep = ("flag", "home", "status", "text", "since", "until")
    return {k: str(params.get(k)).strip() for k in keep if params.get(k) and str(params.get(k)).strip()}


def _queue_filter(params: Any, **extra: Any) -> tuple[DecisionFilter, dict[str, str], list[str]]:
    """The queue's filter: "open" unless a status is chosen ("any" shows every status)."""
    filters = _filters(params)
    filters.setdefault("status", "open")
    given = {k: v for k, v in filters.items() if not (k == "status" and v == "any")}
    try:
        return DecisionFilter(sort="priority", **given, **extra), filters, []  # type: ignore[arg-type]
    except ValidationError as exc:
        error = describe_validation(exc, "filter", tuple(DecisionFilter.model_fields))
        return DecisionFilter(sort="priority", status="open", **extra), {"status": "open"}, [error]


def _staff_gate(request: Request, session: dict[str, Any]) -> Response | None:
    if not _staff_enabled(request):
        return _staff_off(request, session)
    if not _is_staff(request, session):
        return _finish(request, RedirectResponse("/login", status_code=303), session)
    return None


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request) -> Response:
    session = _session(request)
    if (gate := _staff_gate(request, session)) is not None:
        return gate
    try:
        number = max(1, min(int(request.query_params.get("page", "1")), 100_000))
    except ValueError:
        number = 1
    flt, filters, errors = _queue_filter(request.query_params, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
    try:
        page = runtime_of(request).decision_log().list(flt)
    except LogUnavailable as exc:
        return _message(request, session, 503, title="Decision log unavailable", message=str(exc))
    pages = max(1, -(-page.total // PER_PAGE))
    return _render(
        request,
        session,
        "queue.html",
        page=page,
        groups=views.group_by_reference(page.items),
        filters=filters,
        errors=errors,
        homes=HOMES,
        flags=FLAGS,
        statuses=STATUSES,
        reviewer=session.get("name", ""),
        done=request.query_params.get("done", ""),
        query=urlencode(filters),
        number=number,
        pages=pages,
        need_of=need_of,
        first=(number - 1) * PER_PAGE + 1,
    )


@router.get("/queue/export.csv")
def queue_export(request: Request) -> Response:
    """The CSV export of the queue's filter, for a logged-in staff member (the session, not a header)."""
    session = _session(request)
    if (gate := _staff_gate(request, session)) is not None:
        return gate
    flt, _, _ = _queue_filter(request.query_params)
    log_ = runtime_of(request).decision_log()
    try:
        log_.ensure_ready()
    except LogUnavailable as exc:
        return _message(request, session, 503, title="Decision log unavailable", message=str(exc))
    response = StreamingResponse(
        csv_lines(log_.iter_all(flt)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="decisions.csv"', "Cache-Control": "no-store"},
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.post("/queue/confirm", response_class=HTMLResponse)
async def queue_bulk_confirm(request: Request) -> Response:
    """Confirm every selected decision (what stands for each) in one go."""
    session = _session(request)
    if not _is_staff(request, session):
        return _finish(request, RedirectResponse("/login", status_code=303), session)
    form = await _form(request, session)
    if form is None:
        return _csrf_failed(request, session)
    ids = [i for i in (await request.form()).getlist("ids") if isinstance(i, str) and i][: PER_PAGE * 4]
    back = _filters({k[len("back_") :]: v for k, v in form.items() if k.startswith("back_")})
    if not ids:
        return _message(
            request,
            session,
            422,
            title="Nothing confirmed",
            message="Select at least one decision.",
            back="/queue?" + urlencode(back),
        )
    try:
        request_ = ReviewRequest.model_validate(
            {"action": "confirm", "reviewer": form.get("reviewer", ""), "reason": form.get("reason", "")}
        )
    except ValidationError as exc:
        return _message(
            request,
            session,
            422,
            title="Nothing confirmed",
            message=describe_validation(exc, "review", tuple(ReviewRequest.model_fields)),
            back="/queue?" + urlencode(back),
        )
    log_ = runtime_of(request).decision_log()
    done = 0
    try:
        for decision_id in ids:
            try:
                await run_in_threadpool(log_.review, decision_id, request_)
                done += 1
            except NotFound:
                continue
    except LogUnavailable as exc:
        return _message(request, session, 503, title="Decision log unavailable", message=str(exc))
    back["done"] = f"{done} confirmed"
    return _finish(request, RedirectResponse("/queue?" + urlencode(back), status_code=303), session)


@router.get("/queue/{decision_id}", response_class=HTMLResponse)
def queue_detail(decision_id: str, request: Request) -> Response:
    """One decision for staff: the proposal as sent, the rules and their evidence, related work, reviews."""
    session = _session(request)
    if (gate := _staff_gate(request, session)) is not None:
        return gate
    rt = runtime_of(request)
    try:
        rec = rt.decision_log().get(decision_id) if len(decision_id) <= 64 else None
    except LogUnavailable as exc:
        return _message(request, session, 503, title="Decision log unavailable", message=str(exc))
    if rec is None:
        return _message(request, session, 404, title="No such decision", message=decision_id, back="/queue")
    rules_answer = Decision.model_validate(rec.result)
    last = rec.reviews[-1] if rec.reviews else None
    back = _filters({k[len("back_") :]: v for k, v in request.query_params.items() if k.startswith("back_")})
    return _render(
        request,
        session,
        "queue_detail.html",
        record=rec,
        last=last,
        sent=views.values_read(rec.proposal),
        rules_answer=rules_answer,
        answer=views.answer(rules_answer, rec.proposal, rt.rules),
        homes=HOMES,
        reviewer=session.get("name", ""),
        done=request.query_params.get("done", ""),
        back=back,
        back_query=urlencode(back),
        links={w.id: views.source_link(rt.registry.by_id.get(w.id)) for w in rules_answer.related_work}
        if rt.registry is not None
        else {},
        stands=views.gloss(last.home, last.lead, last.other_sg)
        if last
        else views.gloss(rec.home, rec.lead, rec.result.get("other_sg")),
    )


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
        body.update(
            home=form.get("home") or None,
            lead=form.get("lead") or None,
            other_sg=form.get("other_sg") or None,
            questions=_split(form.get("questions", "").replace(",", ";")),
        )
    # The queue's filters travel as back_* fields, apart from the review's own home/lead/status.
    back = _filters({k[len("back_") :]: v for k, v in form.items() if k.startswith("back_")})
    try:
        request_ = ReviewRequest.model_validate(body)
        await run_in_threadpool(runtime_of(request).decision_log().review, decision_id, request_)
    except ValidationError as exc:
        return _message(
            request,
            session,
            422,
            title="Review not recorded",
            message=describe_validation(exc, "review", tuple(ReviewRequest.model_fields)),
            back=f"/queue/{decision_id}?" + urlencode({f"back_{k}": v for k, v in back.items()}),
        )
    except NotFound:
        return _message(request, session, 404, title="No such decision", message=decision_id, back="/queue")
    except LogUnavailable as exc:
        return _message(request, session, 503, title="Decision log unavailable", message=str(exc))
    back["done"] = decision_id
    return _finish(
        request, RedirectResponse("/queue?" + urlencode(back) + f"#d-{decision_id}", status_code=303), session
    )
