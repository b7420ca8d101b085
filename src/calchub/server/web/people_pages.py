"""/projects: the viewer's projects with their quota usage, and one project's settings, members
and webhooks.

A project the viewer does not belong to is not found (404), as in the API;
moderators and admins see every project. Its managers and admins add, remove
and re-role members and add and remove webhooks (a new webhook's secret is on
the answer that made it, and only there); admins create projects and change
their settings and quotas. The settings and users pages are in ``settings_page`` and ``users_page``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from calchub.contracts import projects as wire
from calchub.contracts import webhooks as hooks
from calchub.contracts.calculations import MAX_ID
from calchub.domain.permissions import Action, ProjectRole
from calchub.server.services import projects, webhooks
from calchub.server.services.errors import ServiceError
from calchub.server.web.people_forms import (
    Problems,
    back,
    is_htmx,
    problem,
    problems_of,
    shown_on_page,
    values,
)
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import HubDep, PageViewer, Viewer

router = APIRouter(include_in_schema=False)
Short = Annotated[str, Form(max_length=1000)]
Long = Annotated[str, Form(max_length=10_000)]
HookId = Annotated[int, Path(ge=1, le=MAX_ID)]
QUOTAS = ("max_running", "max_queued", "core_hours", "quota_days")
MEMBERS, HOOKS = "partials/people_members.html", "partials/people_webhooks.html"


@router.get("/projects", response_class=HTMLResponse)
def listing(hub: HubDep, request: Request, who: PageViewer) -> Response:
    allowed(who, Action.PROJECTS_READ)
    return _list_page(hub, request, who)


def _list_page(
    hub: HubDep,
    request: Request,
    who: Viewer,
    problems: Problems | None = None,
    status: int = 200,
    new: dict[str, str] | None = None,
) -> Response:
    with hub.uow() as session:
        found = projects.listing_with_usage(session, who.caller)
    context: dict[str, Any] = {"projects": found, "problems": problems or {}, "new": new or {}}
    context["may_create"] = who.caller.may(Action.PROJECTS_MANAGE)
    return render(request, who, "pages/projects.html", status=status, active="projects", **context)


@router.post("/projects", response_class=HTMLResponse)
def create(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    name: Short = "",
    description: Long = "",
    requires_approval: Short = "",
    priority_min: Short = "",
    priority_max: Short = "",
    manager: Short = "",
) -> Response:
    """A group project; the manager named (if any) adds its members."""
    allowed(who, Action.PROJECTS_MANAGE)
    typed = {"name": name, "description": description, "requires_approval": requires_approval}
    typed |= {"priority_min": priority_min, "priority_max": priority_max, "manager": manager}
    asked: dict[str, Any] = values(
        {k: typed[k] for k in ("name", "description", "priority_min", "priority_max")}
    )
    asked |= {
        "requires_approval": bool(requires_approval),
        "managers": [manager.strip()] if manager.strip() else [],
    }
    try:
        body = wire.ProjectCreate.model_validate(asked)
        with hub.uow() as session:
            made = projects.create(session, who.caller, body)
    except ValidationError as error:
        found = problems_of(error, "new.", fallback="priority_min")
        return _list_page(hub, request, who, found, status=422, new=typed)
    except ServiceError as error:
        if not shown_on_page(error, ""):
            raise
        key = {"username": "new.manager"}.get(error.field or "", f"new.{error.field or 'name'}")
        return _list_page(hub, request, who, {key: error.message}, status=error.status, new=typed)
    return back(request, who, _address(made.name))


@router.get("/projects/{name}", response_class=HTMLResponse)
def project(hub: HubDep, request: Request, who: PageViewer, name: str) -> Response:
    allowed(who, Action.PROJECTS_READ)
    return _project_page(hub, request, who, name)


def _project_page(
    hub: HubDep,
    request: Request,
    who: Viewer,
    name: str,
    problems: Problems | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
    fragment: str = MEMBERS,
    **extra: Any,
) -> Response:
    """The page, or for HTMX the ``fragment`` that changed; ``extra``: the webhook form's
    ``hook_form`` (what was typed) and ``hook`` (a new webhook, with its secret)."""
    caller = who.caller
    with hub.uow() as session:
        shown = projects.show(session, caller, name)
        members = projects.members(session, caller, name)
        usage = projects.usage(session, caller, name)
        found = webhooks.listing(session, caller, name)
    context: dict[str, Any] = {"project": shown, "members": members, "usage": usage, "webhooks": found}
    context |= {"problems": problems or {}, "form": form or {}, "roles": [r.value for r in ProjectRole]}
    context["may_members"] = (
        caller.may(Action.PROJECTS_MEMBERS) and caller.manages(shown.id) and not shown.personal
    )
    context["may_webhooks"] = caller.may(Action.PROJECTS_MEMBERS) and caller.manages(shown.id)
    context["may_edit"] = caller.may(Action.PROJECTS_MANAGE)
    context |= {"hook": None, "hook_form": {}} | extra
    page = fragment if is_htmx(request) else "pages/project.html"
    return render(request, who, page, status=status, active="projects", **context)


@router.post("/projects/{name}/settings", response_class=HTMLResponse)
def change_settings(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    name: str,
    description: Long = "",
    requires_approval: Short = "",
    priority_min: Short = "",
    priority_max: Short = "",
    max_running: Short = "",
    max_queued: Short = "",
    core_hours: Short = "",
    quota_days: Short = "",
) -> Response:
    """Description, approval, the priority range and quotas; an empty quota is no limit."""
    allowed(who, Action.PROJECTS_MANAGE)
    typed = {"description": description, "requires_approval": requires_approval}
    typed |= {"priority_min": priority_min, "priority_max": priority_max, "max_running": max_running}
    typed |= {"max_queued": max_queued, "core_hours": core_hours, "quota_days": quota_days}
    quotas = {k: v for k, v in values(typed).items() if k in QUOTAS}
    asked: dict[str, Any] = {k: v for k, v in values(typed).items() if k in ("priority_min", "priority_max")}
    asked |= {"description": description, "requires_approval": bool(requires_approval), "quotas": quotas}
    try:
        body = wire.ProjectUpdate.model_validate(asked)
        with hub.uow() as session:
            projects.update(session, who.caller, name, body)
    except ValidationError as error:
        found = problems_of(error, "settings.")
        return _project_page(hub, request, who, name, found, status=422, form=typed)
    except ServiceError as error:
        if not shown_on_page(error, "project"):
            raise
        found = problem(error, "settings.")
        return _project_page(hub, request, who, name, found, status=error.status, form=typed)
    return back(request, who, _address(name))


def _members_changed(
    hub: HubDep, request: Request, who: Viewer, name: str, field: str, act: Any, typed: str = ""
) -> Response:
    """Run ``act(session)``, then the members again (the fragment, for HTMX) or the page;
    a problem is shown by ``field`` (with the username typed, when adding)."""
    form = {"username": typed}
    try:
        with hub.uow() as session:
            act(session)
    except ValidationError as error:
        found = {field: next(iter(problems_of(error).values()))}
        return _project_page(hub, request, who, name, found, status=422, form=form)
    except ServiceError as error:
        if not shown_on_page(error, "project"):
            raise
        found = {field: error.message}
        return _project_page(hub, request, who, name, found, status=error.status, form=form)
    if is_htmx(request):
        return _project_page(hub, request, who, name)
    return back(request, who, _address(name))


def _address(name: str) -> str:
    return f"/projects/{quote(name, safe='~')}"


def _role(value: str) -> ProjectRole:
    return wire.MemberSet.model_validate({"role": value or ProjectRole.MEMBER.value}).role


@router.post("/projects/{name}/members", response_class=HTMLResponse)
def add_member(
    hub: HubDep, request: Request, who: PageViewer, name: str, username: Short = "", role: Short = ""
) -> Response:
    allowed(who, Action.PROJECTS_MEMBERS)

    def act(session: Any) -> None:
        projects.put_member(session, who.caller, name, username.strip(), _role(role))

    return _members_changed(hub, request, who, name, "member.username", act, username)


@router.post("/projects/{name}/members/{username}/role", response_class=HTMLResponse)
def change_member_role(
    hub: HubDep, request: Request, who: PageViewer, name: str, username: str, role: Short = ""
) -> Response:
    allowed(who, Action.PROJECTS_MEMBERS)

    def act(session: Any) -> None:
        projects.put_member(session, who.caller, name, username, _role(role))

    return _members_changed(hub, request, who, name, f"{username}.role", act)


@router.post("/projects/{name}/members/{username}/remove", response_class=HTMLResponse)
def remove_member(hub: HubDep, request: Request, who: PageViewer, name: str, username: str) -> Response:
    allowed(who, Action.PROJECTS_MEMBERS)

    def act(session: Any) -> None:
        projects.remove_member(session, who.caller, name, username)

    return _members_changed(hub, request, who, name, username, act)


@router.post("/projects/{name}/webhooks", response_class=HTMLResponse)
def add_webhook(
    hub: HubDep, request: Request, who: PageViewer, name: str, url: Long = "", level: Short = ""
) -> Response:
    """A webhook (the project's managers and admins); its secret is on this answer only."""
    allowed(who, Action.PROJECTS_MEMBERS)
    typed = {"url": url, "level": level}
    try:
        body = hooks.WebhookCreate.model_validate({"url": url.strip(), "level": level or "info"})
        with hub.uow() as session:
            made = webhooks.create(session, who.caller, name, body)
    except ValidationError as error:
        found = problems_of(error, "webhook.", fallback="url")
        return _project_page(hub, request, who, name, found, 422, fragment=HOOKS, hook_form=typed)
    except ServiceError as error:
        if not shown_on_page(error, "project"):
            raise
        found = problem(error, "webhook.", fallback="url")
        return _project_page(hub, request, who, name, found, error.status, fragment=HOOKS, hook_form=typed)
    response = _project_page(hub, request, who, name, status=201, fragment=HOOKS, hook=made)
    response.headers["Cache-Control"] = "no-store"  # the secret is in this answer, and only here
    return response


@router.post("/projects/{name}/webhooks/{webhook_id}/remove", response_class=HTMLResponse)
def remove_webhook(hub: HubDep, request: Request, who: PageViewer, name: str, webhook_id: HookId) -> Response:
    allowed(who, Action.PROJECTS_MEMBERS)
    try:
        with hub.uow() as session:
            webhooks.remove(session, who.caller, name, webhook_id)
    except ServiceError as error:
        if not shown_on_page(error, "project"):
            raise
        found = {"webhook.id": error.message}  # removed meanwhile: said above the list
        return _project_page(hub, request, who, name, found, error.status, fragment=HOOKS)
    if is_htmx(request):
        return _project_page(hub, request, who, name, fragment=HOOKS)
    return back(request, who, _address(name))
