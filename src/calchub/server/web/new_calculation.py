"""The new-calculation form, generated from the type's input schema; problems show by their field."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from calchub.contracts import calculations as wire
from calchub.domain.permissions import Action
from calchub.server.services import calctypes, clusters, projects
from calchub.server.services import calculations as calcs
from calchub.server.services.errors import InvalidInputs, ServiceError
from calchub.server.web import forms
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import (
    HubDep,
    PageViewer,
    Viewer,
)

router = APIRouter(include_in_schema=False)


@router.get("/calculations/new", response_class=HTMLResponse)
def new_form(
    hub: HubDep, request: Request, who: PageViewer, type: Annotated[str, Query(max_length=100)] = "shell"
) -> Response:
    allowed(who, Action.CALCULATIONS_WRITE)
    return _new_page(hub, request, who, type, {}, {})


def _new_page(
    hub: HubDep,
    request: Request,
    who: Viewer,
    type_name: str,
    form: dict[str, str],
    problems: dict[str, str],
    status: int = 200,
) -> Response:
    info = calctypes.describe(hub.calctypes, type_name)
    with hub.uow() as session:
        found_clusters = [c for c in clusters.all_clusters(session) if c.enabled]
        found_projects = projects.listing(session, who.caller)
    mine = [p for p in found_projects if p.my_role is not None]
    context = {
        "types": calctypes.listing(hub.calctypes).items,
        "info": info,
        "fields": forms.fields(info.input_schema),
    }
    context |= {"clusters": found_clusters, "projects": mine, "form": form, "problems": problems}
    return render(request, who, "pages/new.html", status=status, active="new", **context)


@router.post("/calculations/new", response_class=HTMLResponse)
async def submit(hub: HubDep, request: Request, who: PageViewer) -> Response:
    """The form's inputs and files as one typed submission; problems are shown by their field."""
    allowed(who, Action.CALCULATIONS_WRITE)
    async with request.form() as posted:  # closes the uploaded files' spools
        form = {k: v for k, v in posted.items() if isinstance(v, str)}
        analyses = [str(a) for a in posted.getlist("analyses")]
        uploads = []
        for key, value in posted.multi_items():
            if key.startswith("upload:") and not isinstance(value, str) and value.filename:
                path = key.removeprefix("upload:")
                uploads.append((path if "*" not in path else value.filename, await value.read()))
    type_name = form.get("type", "shell")
    return await run_in_threadpool(_submit, hub, request, who, type_name, form, analyses, uploads)


def _submit(
    hub: HubDep,
    request: Request,
    who: Viewer,
    type_name: str,
    form: dict[str, str],
    analyses: list[str],
    uploads: list[tuple[str, bytes]],
) -> Response:
    try:
        info = calctypes.describe(hub.calctypes, type_name)
        body: dict[str, Any] = {"type": type_name, "inputs": forms.inputs(info.input_schema, form)}
        body |= {"name": form.get("name") or type_name, "cluster": form.get("cluster", "local")}
        body |= {"project": form.get("project") or None, "analyses": analyses or None}
        resources = {k: form[k] for k in ("cores", "walltime") if form.get(k)}
        body["resources"] = resources
        body["files"] = [
            {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}
            for path, data in uploads
        ]
        request_model = wire.CalculationCreate.model_validate(body)
        with hub.uow() as session:
            (made,) = calcs.submit(session, hub.store, who.caller, [request_model], hub.calctypes)
    except InvalidInputs as error:
        problems = {field: message for field, _, message in error.problems}
        return _new_page(hub, request, who, type_name, form, problems, status=422)
    except ServiceError as error:
        return _new_page(
            hub, request, who, type_name, form, {error.field or "": error.message}, status=error.status
        )
    except ValidationError as error:
        problems = {".".join(str(p) for p in e["loc"]): e["msg"] for e in error.errors()}
        return _new_page(hub, request, who, type_name, form, problems or {"": str(error)}, status=422)
    return who.finish(request, RedirectResponse(f"/calculations/{made.id}", status_code=303))
