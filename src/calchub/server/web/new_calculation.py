"""The new-calculation form: made from the type's input schema, previewed live, submitted once.

``GET /calculations/new`` shows the form (``?from=<id>`` fills it from a
calculation the viewer may see, keeping its uploaded files unless told
otherwise); changing the cluster swaps the resources fieldset
(``/calculations/new/resources``); every edit posts the form to
``/calculations/new/preview``, which checks it with the preview service
(nothing is written) and answers with the sbatch script, or the command, or
the problems by field; ``POST /calculations/new`` submits it.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from calchub.contracts import calculations as wire
from calchub.contracts import clusters as cluster_wire
from calchub.contracts.calctypes import CalcTypeInfo
from calchub.domain.permissions import Action
from calchub.server.services import calctypes, clusters, files, projects, scripts
from calchub.server.services import calculations as calcs
from calchub.server.services.errors import InvalidInputs, ServiceError
from calchub.server.web import forms
from calchub.server.web.rendering import allowed, render
from calchub.server.web.session import HubDep, PageViewer, Viewer

router = APIRouter(include_in_schema=False)
TypeName = Annotated[str, Query(max_length=100)]


@dataclass
class Draft:
    """What the form holds: its fields, the analyses ticked, its files, and the original's files it keeps."""

    type: str
    form: dict[str, str] = field(default_factory=dict)
    #: False: a fresh form, which shows the type's defaults.
    posted: bool = False
    #: None: the form had no analyses to tick.
    analyses: list[str] | None = None
    uploads: list[tuple[str, bytes]] = field(default_factory=list)
    #: The calculation this is a copy of, and which of its uploaded files are offered and kept.
    origin: int | None = None
    offered: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)

    def request(self, info: CalcTypeInfo, with_files: list[tuple[str, bytes]]) -> wire.CalculationCreate:
        form = self.form
        body: dict[str, Any] = {"type": info.name, "inputs": forms.inputs(info.input_schema, form)}
        body |= {"name": form.get("name", "").strip() or info.name, "cluster": form.get("cluster") or "local"}
        body |= {"project": form.get("project") or None, "analyses": self.analyses}
        if form.get("priority", "").strip():
            body["priority"] = form["priority"].strip()
        body["notify"] = [a.strip() for a in form.get("notify", "").replace(";", ",").split(",") if a.strip()]
        body["resources"] = forms.resources(form)
        body["files"] = [
            {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}
            for path, data in with_files
        ]
        return wire.CalculationCreate.model_validate(body)

    def kept(self) -> list[str]:
        """The original's files it keeps: those not replaced by a new upload of the same path."""
        new = {path for path, _ in self.uploads}
        return [path for path in self.keep if path in self.offered and path not in new]


@dataclass
class Preview:
    """What the preview shows: the sbatch script (or the command) the agent would run, or what stops it."""

    cluster: str = ""
    script: str | None = None
    command: str | None = None
    files: list[str] = field(default_factory=list)
    problems: list[forms.Problem] = field(default_factory=list)


@router.get("/calculations/new", response_class=HTMLResponse)
def new_form(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    type: TypeName = "shell",
    cluster: Annotated[str, Query(max_length=100)] = "",
    from_: Annotated[int | None, Query(alias="from", ge=1, le=wire.MAX_ID)] = None,
) -> Response:
    allowed(who, Action.CALCULATIONS_WRITE)
    if from_ is not None:
        draft = _copy_of(hub, who, from_)
    else:
        info = calctypes.describe(hub.calctypes, type)
        draft = Draft(type, {"cluster": cluster}, analyses=[a.name for a in info.analyses if a.default])
    return _page(hub, request, who, draft, [])


def _copy_of(hub: HubDep, who: Viewer, calc_id: int) -> Draft:
    """A draft of the calculation ``calc_id`` again; a calculation of a command becomes a shell script."""
    with hub.uow() as session:
        calc = calcs.describe(session, who.caller, calc_id)
    type_name = calc.type or "shell"
    info = calctypes.describe(hub.calctypes, type_name)
    if calc.type is None:
        form = {"inputs.script": shlex.join(calc.command)}
    else:
        form = forms.form_of_inputs(forms.fields(info.input_schema), calc.inputs or {})
    form |= {"name": f"copy of {calc.name}"[:200], "cluster": calc.cluster, "project": calc.project or ""}
    form |= forms.resources_form(calc.resources)
    inputs = [f.path for f in calc.files if f.kind == "input"]
    offered = calctypes.uploaded(hub.calctypes, type_name, inputs) if calc.type else []
    analyses = calc.analyses if calc.type else [a.name for a in info.analyses if a.default]
    return Draft(type_name, form, True, analyses, origin=calc.id, offered=offered, keep=offered)


@router.get("/calculations/new/resources", response_class=HTMLResponse)
def resources_fieldset(hub: HubDep, request: Request, who: PageViewer, type: TypeName = "shell") -> Response:
    """The resources fieldset for the cluster chosen: Slurm's fields only for a Slurm cluster."""
    allowed(who, Action.CALCULATIONS_WRITE)
    info = calctypes.describe(hub.calctypes, type)
    draft = Draft(type, dict(request.query_params), posted=True)
    context = _context(hub, who, info, draft, []) | {"active": "new"}
    response = render(request, who, "partials/new_resources.html", **context)
    response.headers["HX-Trigger-After-Settle"] = "new-resources"  # the preview follows the new fields
    return response


@router.post("/calculations/new/preview", response_class=HTMLResponse)
async def preview(hub: HubDep, request: Request, who: PageViewer) -> Response:
    """The form checked and rendered as its agent would run it; nothing is written."""
    allowed(who, Action.CALCULATIONS_WRITE)
    async with request.form() as posted:
        draft = await _draft(posted, with_content=False)
    info = calctypes.describe(hub.calctypes, draft.type)
    shown = await run_in_threadpool(_preview, hub, who, info, draft)
    return render(request, who, "partials/new_preview.html", preview=shown)


def _preview(hub: HubDep, who: Viewer, info: CalcTypeInfo, draft: Draft) -> Preview:
    slots = _slots(info)
    paths = [path for path, _ in draft.uploads] + draft.kept()
    try:
        request = draft.request(info, [(path, b"") for path in paths])  # the script needs no contents
        with hub.uow() as session:
            calc, written, cluster = calcs.preview(session, who.caller, request, hub.calctypes)
            script = scripts.render(cluster, calc) if cluster.executor == "slurm" else None
    except (ServiceError, ValidationError) as error:
        return Preview(draft.form.get("cluster", ""), problems=slots.problems(_problems(error)))
    command = None if script is not None else shlex.join(calc.command)
    return Preview(cluster.name, script, command, written)


@router.post("/calculations/new", response_class=HTMLResponse)
async def submit(hub: HubDep, request: Request, who: PageViewer) -> Response:
    """The form's inputs and files as one typed submission; problems are shown by their field."""
    allowed(who, Action.CALCULATIONS_WRITE)
    async with request.form() as posted:  # closes the uploaded files' spools
        draft = await _draft(posted, with_content=True)
    return await run_in_threadpool(_submit, hub, request, who, draft)


def _submit(hub: HubDep, request: Request, who: Viewer, draft: Draft) -> Response:
    try:
        info = calctypes.describe(hub.calctypes, draft.type)
        kept: list[tuple[str, bytes]] = []
        if draft.origin is not None and draft.kept():
            with hub.uow() as session:
                kept = files.stored_inputs(session, hub.store, who.caller, draft.origin, draft.kept())
        submission = draft.request(info, draft.uploads + kept)
        with hub.uow() as session:
            # The preview's checks include the cluster's partitions, which submitting does not look at.
            calcs.preview(session, who.caller, submission, hub.calctypes)
            (made,) = calcs.submit(session, hub.store, who.caller, [submission], hub.calctypes)
    except (ServiceError, ValidationError) as error:
        status = error.status if isinstance(error, ServiceError) else 422
        return _page(hub, request, who, draft, _problems(error), status)
    return who.finish(request, RedirectResponse(f"/calculations/{made.id}", status_code=303))


async def _draft(posted: FormData, *, with_content: bool) -> Draft:
    """The form as posted; without content, the files chosen are only named (for the preview)."""
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    uploads = []
    for key, value in posted.multi_items():
        if key.startswith("upload:") and not isinstance(value, str) and value.filename:
            path = forms.upload_path(key.removeprefix("upload:"), value.filename)
            uploads.append((path, await value.read() if with_content else b""))
    origin = form.get("from", "")
    return Draft(
        type=form.get("type", "shell"),
        form=form,
        posted=True,
        analyses=[str(a) for a in posted.getlist("analyses")] if "analyses-shown" in form else None,
        uploads=uploads,
        origin=int(origin) if origin.isdigit() and 0 < int(origin) <= wire.MAX_ID else None,
        offered=[str(p) for p in posted.getlist("offered")],
        keep=[str(p) for p in posted.getlist("keep")],
    )


def _problems(error: ServiceError | ValidationError) -> list[tuple[str, str]]:
    """Each problem as (the request field it concerns, what is wrong)."""
    if isinstance(error, InvalidInputs):
        return [(where, message) for where, _, message in error.problems]
    if isinstance(error, ServiceError):
        return [(error.field or "", error.message)]
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors()]


def _slots(info: CalcTypeInfo) -> forms.Slots:
    return forms.slots(forms.fields(info.input_schema), info.uploads)


def _page(
    hub: HubDep,
    request: Request,
    who: Viewer,
    draft: Draft,
    found: list[tuple[str, str]],
    status: int = 200,
) -> Response:
    info = calctypes.describe(hub.calctypes, draft.type)
    problems = _slots(info).problems(found)
    context = _context(hub, who, info, draft, problems)
    context["preview"] = _preview(hub, who, info, draft)
    context["types"] = calctypes.listing(hub.calctypes).items
    return render(request, who, "pages/new.html", status=status, active="new", **context)


def _context(
    hub: HubDep, who: Viewer, info: CalcTypeInfo, draft: Draft, problems: list[forms.Problem]
) -> dict[str, Any]:
    """What the form and its resources fieldset are drawn from."""
    with hub.uow() as session:
        found_clusters = [clusters.to_wire(c) for c in clusters.all_clusters(session) if c.enabled]
        mine = [p for p in projects.listing(session, who.caller) if p.my_role is not None]
    chosen = _chosen_cluster(found_clusters, draft.form.get("cluster", ""))
    draft.form["cluster"] = chosen.name if chosen else ""
    if not draft.form.get("project"):
        personal = next((p.name for p in mine if p.personal), mine[0].name if mine else "")
        draft.form["project"] = personal
    found_fields = forms.fields(info.input_schema)
    return {
        "info": info,
        "draft": draft,
        "form": draft.form,
        "fields": found_fields,
        "values": forms.values(found_fields, draft.form if draft.posted else None),
        "chosen_analyses": set(draft.analyses or []),
        "needs": forms.analysis_needs(info.analyses),
        "uploads": [(forms.upload_id(i), u) for i, u in enumerate(info.uploads, 1)],
        "clusters": found_clusters,
        "cluster": chosen,
        "partitions": forms.partition_choices(chosen) if chosen else [],
        "defaults": forms.resource_defaults(info.resources),
        "projects": mine,
        "problems": problems,
        "errors": forms.by_target(problems),
    }


def _chosen_cluster(found: list[cluster_wire.Cluster], name: str) -> cluster_wire.Cluster | None:
    named = {c.name: c for c in found}
    return named.get(name) or named.get("local") or (found[0] if found else None)
