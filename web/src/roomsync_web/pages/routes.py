"""The admin pages: server-rendered (Jinja2), plain forms, no script needed.

An administrator signs in with an API key of scope ``admin``; the session cookie (signed,
SameSite=Strict, HttpOnly) then holds the key's id, never the key, and every page checks that
the key is still live, so revoking it ends the session. Every form carries the session's CSRF
token.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from roomsync.engine.difference_scans import ScanRequest, resolve_records, scan
from roomsync.engine.differences import DEFAULT_DAYS, MAX_DAYS, Resolution
from roomsync.errors import NotFound, RoomsyncError
from roomsync.status import StatusFilter, log_data, person_status
from roomsync.storage.api_keys import Scope
from roomsync.sync_test import sync_test
from roomsync_web.api.admin import difference_data
from roomsync_web.principal import Principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


class SignInRequired(Exception):
    pass


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    async def to_sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/admin/signin?next={quote(request.url.path)}", status_code=303)

    app.add_exception_handler(SignInRequired, to_sign_in)  # type: ignore[arg-type]


def admin(request: Request) -> Principal:
    key_id = request.session.get("key_id")
    key = request.app.state.service.database.api_keys.get(key_id) if key_id else None
    if key is None or not key.allows(Scope.ADMIN):
        request.session.clear()
        raise SignInRequired
    principal = Principal.of_key(key)
    request.state.principal = principal
    return principal


def _check_csrf(request: Request, token: str) -> None:
    """A form of this session's pages, not one another site made (refused; the session stays)."""
    if not hmac.compare_digest(str(request.session.get("csrf", "")), token):
        raise HTTPException(403, "this form is not from this session's pages; reload the page and try again")


def page(request: Request, name: str, **context: Any) -> HTMLResponse:
    context.setdefault("message", request.session.pop("message", None))
    context.setdefault("error", request.session.pop("error", None))
    return templates.TemplateResponse(
        request, name, {"csrf": request.session.get("csrf", ""), "who": request.state.principal, **context}
    )


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/admin", status_code=303)


@router.get("/admin/signin")
def sign_in_form(request: Request, next: str = "/admin") -> HTMLResponse:
    return templates.TemplateResponse(request, "signin.html", {"next": _local(next), "error": None})


def _local(target: str) -> str:
    """Only a path of this site (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/admin"


@router.post("/admin/signin")
def sign_in(request: Request, key: str = Form(..., max_length=200), next: str = Form("/admin")) -> Response:
    found = request.app.state.service.database.api_keys.verify(key.strip())
    if found is None or not found.allows(Scope.ADMIN):
        error = (
            "This key is unknown, revoked, or not an admin key."
            if found is None or found.revoked_at
            else ("This key has no admin scope; the pages are for administrators.")
        )
        return templates.TemplateResponse(
            request, "signin.html", {"next": _local(next), "error": error}, status_code=401
        )
    request.session.clear()
    request.session.update({"key_id": found.id, "csrf": secrets.token_urlsafe(24)})
    return RedirectResponse(_local(next), status_code=303)


@router.post("/admin/signout")
def sign_out(request: Request, csrf: str = Form("")) -> RedirectResponse:
    _check_csrf(request, csrf)  # another site's form must not sign an administrator out
    request.session.clear()
    return RedirectResponse("/admin/signin", status_code=303)


@router.get("/admin")
def overview(request: Request, failing: bool = False, environment: str | None = None) -> HTMLResponse:
    admin(request)
    service = request.app.state.service
    figures = service.database.figures()
    with service.database.unit_of_work() as uow:
        rows = person_status(uow, StatusFilter(environment=environment or None, failing=failing))
    environments = [
        {"name": name, "plugin": config.plugin, "figures": figures.get(name)}
        for name, config in service.settings.environments.items()
    ]
    return page(
        request,
        "overview.html",
        persons=rows,
        environments=environments,
        failing=failing,
        environment=environment,
        unassigned=figures.get(None),
    )


def _person_page(request: Request, email: str, **extra: Any) -> HTMLResponse:
    service = request.app.state.service
    with service.database.unit_of_work() as uow:
        rows = person_status(uow, StatusFilter(person=email))
        if not rows:
            return page(request, "missing.html", what=f"person {email}")
        log = [log_data(e) for e in uow.sync.recent_log(limit=30, mailbox=rows[0]["email"])]
        booked = uow.rooms.reservations(organizer=rows[0]["email"])
    cycles = _cycles(request, rows[0]["email"])
    return page(
        request, "person.html", person=rows[0], log=log, reservations=booked[-20:], cycles=cycles, **extra
    )


@router.get("/admin/persons/{email}")
def person(request: Request, email: str) -> HTMLResponse:
    admin(request)
    return _person_page(request, email)


@router.post("/admin/persons/{email}/test")
def person_test(request: Request, email: str, csrf: str = Form("")) -> HTMLResponse:
    admin(request)
    _check_csrf(request, csrf)
    try:
        steps = sync_test(request.app.state.service.runner, email)
    except RoomsyncError as exc:
        return _person_page(request, email, error=str(exc))
    return _person_page(request, email, steps=steps)


@router.post("/admin/persons/{email}/sync")
def person_sync(request: Request, email: str, csrf: str = Form("")) -> HTMLResponse:
    admin(request)
    _check_csrf(request, csrf)
    service = request.app.state.service
    with service.database.unit_of_work() as uow:
        found = uow.rooms.get_person(email)
    if found is None:
        return page(request, "missing.html", what=f"person {email}")
    report = service.sync_person(found)
    return _person_page(request, email, report=report)


@router.get("/admin/differences")
def differences(request: Request, person: str | None = None, days: int = DEFAULT_DAYS) -> HTMLResponse:
    admin(request)
    days = min(max(days, 1), MAX_DAYS)
    try:
        result = scan(
            request.app.state.service.runner, ScanRequest(days=days, persons=[person] if person else None)
        )
    except RoomsyncError as exc:  # an unknown person
        return page(request, "differences.html", differences=[], person=person, days=days, error=str(exc))
    return page(
        request,
        "differences.html",
        differences=[difference_data(d) for d in result.open],
        not_compared=result.not_compared,
        person=person,
        days=days,
    )


@router.post("/admin/differences/resolve")
def resolve_difference(
    request: Request,
    csrf: str = Form(""),
    id: int = Form(...),
    resolution: str = Form(...),
    person: str = Form(""),
) -> RedirectResponse:
    principal = admin(request)
    _check_csrf(request, csrf)
    runner = request.app.state.service.runner
    back = f"/admin/differences?person={quote(person)}" if person else "/admin/differences"
    try:
        [outcome] = resolve_records(runner, [id], Resolution(resolution), principal.describe())
        if outcome.error:
            request.session["error"] = outcome.error
        else:
            d = outcome.difference
            request.session["message"] = f"'{d.title}' in {d.mailbox}: {outcome.done}."
    except NotFound:
        request.session["error"] = "That difference is gone: someone or a cycle resolved it meanwhile."
    except (RoomsyncError, ValueError) as exc:
        request.session["error"] = str(exc)
    return RedirectResponse(back, status_code=303)


@router.get("/admin/log")
def recent_log(request: Request, person: str | None = None) -> HTMLResponse:
    admin(request)
    with request.app.state.service.database.unit_of_work() as uow:
        entries = [log_data(e) for e in uow.sync.recent_log(limit=200, mailbox=person or None)]
    return page(request, "log.html", entries=entries, person=person, cycles=_cycles(request, person))


def _cycles(request: Request, person: str | None) -> list[Any]:
    """The cycles this process ran lately (a quiet cycle writes nothing to the sync log)."""
    recent = request.app.state.service.recent
    return [r for r in recent if person is None or r.mailbox == person.strip().lower()][:50]
