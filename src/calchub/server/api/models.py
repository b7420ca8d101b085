"""/models: served ML models (register, start, stop, logs, delete) and the inference proxy."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from calchub.contracts import models as wire
from calchub.contracts.calculations import ProjectRef
from calchub.server.api.deps import (
    HubDep,
    ModelAdmin,
    ModelInvoker,
    ModelReader,
    ModelRegistrar,
    ModelsReader,
    ModelWaiter,
    ModelWriter,
    Recheck,
    get_hub,
)
from calchub.server.api.longpoll import park
from calchub.server.hub import Hub
from calchub.server.services import model_proxy, models
from calchub.server.services.auth import Caller
from calchub.server.services.errors import TooLarge

router = APIRouter(prefix="/models", tags=["models"])
Version = Annotated[str | None, Query(max_length=40, description="a version; the current one when left out")]


def _runtimes(hub: Hub) -> list[str]:
    return list(hub.settings.model_runtimes)


@router.get("", response_model=wire.ModelList)
def listing(
    hub: HubDep,
    user: ModelsReader,
    project: Annotated[str | None, Query(max_length=100, description="only this project's")] = None,
) -> wire.ModelList:
    """Every version of the models you can see, with their state."""
    with hub.uow() as session:
        return wire.ModelList(items=models.listing(session, user, project))


@router.post("", response_model=wire.Model, status_code=status.HTTP_201_CREATED)
def register(hub: HubDep, user: ModelRegistrar, body: wire.ModelSpec) -> wire.Model:
    """Register a version of a container model (an image); a process model sends its package
    to ``POST /models/package``."""
    with hub.uow() as session:
        return models.register(session, user, body, hub.store, _runtimes(hub))


@router.post(
    "/package",
    response_model=wire.Model,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def register_package(
    request: Request,
    hub: HubDep,
    user: ModelRegistrar,
    project: Annotated[ProjectRef | None, Query(description="overrides the manifest's project")] = None,
) -> wire.Model:
    """Register a model version from its package: a zip of the folder, with its
    ``calchub-model.yaml`` at the top (`calchub model register FOLDER` sends one)."""
    data = await _body(request, wire.MAX_PACKAGE_BYTES, "package")
    return await run_in_threadpool(_register_package, hub, user, data, project)


def _register_package(hub: Hub, user: Caller, data: bytes, project: str | None) -> wire.Model:
    package = models.unpack_package(hub.store, data)
    spec = package.spec if project is None else package.spec.model_copy(update={"project": project})
    try:
        with hub.uow() as session:
            return models.register(session, user, spec, hub.store, _runtimes(hub), package)
    finally:
        models.discard(package)  # left only if it was not moved into place


@router.get("/{name}", response_model=wire.Model)
def show(hub: HubDep, user: ModelReader, name: str, version: Version = None) -> wire.Model:
    with hub.uow() as session:
        return models.show(session, user, name, version)


@router.post("/{name}/wait", response_model=wire.Model)
async def wait(
    hub: HubDep, user: ModelWaiter, again: Recheck, name: str, body: wire.ModelWait, request: Request
) -> wire.Model:
    """The version once it has settled (healthy when wanted, stopped when not, or failed), is
    in one of ``until``, or has left ``changed_from``; or as it is after ``timeout`` seconds."""
    deadline = time.monotonic() + body.timeout
    while True:
        event = hub.wakeups.current(models.MODELS)
        model = await run_in_threadpool(_shown, hub, again, name, body.version)
        if body.done(model) or await park(event, request, deadline - time.monotonic()) != "woken":
            return model


def _shown(hub: Hub, again: Recheck, name: str, version: str | None) -> wire.Model:
    with hub.uow() as session:
        return models.show(session, again(), name, version)


@router.get("/{name}/versions", response_model=wire.ModelList)
def versions(hub: HubDep, user: ModelReader, name: str) -> wire.ModelList:
    with hub.uow() as session:
        return wire.ModelList(items=models.versions(session, user, name))


@router.patch("/{name}/versions/{version}", response_model=wire.Model)
def patch(hub: HubDep, user: ModelWriter, name: str, version: str, body: wire.ModelPatch) -> wire.Model:
    """Describe a version, or make it the current one."""
    with hub.uow() as session:
        return models.patch(session, user, name, version, body)


@router.delete("/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT)
def delete(hub: HubDep, user: ModelAdmin, name: str, version: str) -> Response:
    """Delete a version (admins): stopped if it runs, its package and log removed."""
    with hub.uow() as session:
        model_id = models.delete(session, user, name, version)
    models.delete_files(hub.store, model_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{name}/start", response_model=wire.Model)
def start(hub: HubDep, user: ModelWriter, name: str, version: Version = None) -> wire.Model:
    """Ask for the version to run: the runtime starts it and pings it (``starting`` then
    ``healthy``). A ``failed`` version starts again with its failures forgiven."""
    with hub.uow() as session:
        return models.start(session, user, name, version, _runtimes(hub))


@router.post("/{name}/stop", response_model=wire.Model)
def stop(hub: HubDep, user: ModelWriter, name: str, version: Version = None) -> wire.Model:
    with hub.uow() as session:
        return models.stop(session, user, name, version)


@router.get("/{name}/logs", response_model=wire.ModelLogs)
def logs(
    hub: HubDep,
    user: ModelReader,
    name: str,
    version: Version = None,
    offset: Annotated[
        int | None, Query(ge=0, le=2**62, description="from here; the tail when left out")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1024 * 1024)] = 64 * 1024,
) -> wire.ModelLogs:
    """What the model printed (every start appends to it), and the log's size."""
    with hub.uow() as session:
        model = models.find(session, user, name, version)
    return models.read_log(hub.store, model.id, -1 if offset is None else offset, limit)


#: The body of an invocation, as OpenAPI tells it: what the model takes.
INVOCATION = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {}, "example": {"instances": [[1.0, 0.8]]}},
            "text/csv": {"schema": {"type": "string"}},
        }
    }
}


@router.post("/{name}/invocations", response_class=Response, openapi_extra=INVOCATION)
async def invoke(request: Request, user: ModelInvoker, name: str) -> Response:
    """Inputs in, predictions out: the body and its content type (JSON, CSV ...) go to the
    current version's ``/invocations``, and its answer comes back as it is. 503 while the
    model is not healthy."""
    # The hub is taken from the request, not through HubDep: a sync dependency is a trip
    # through the threadpool.
    return await _forward(request, get_hub(request), user, name, None)


@router.post("/{name}/versions/{version}/invocations", response_class=Response, openapi_extra=INVOCATION)
async def invoke_version(request: Request, user: ModelInvoker, name: str, version: str) -> Response:
    """As ``/models/{name}/invocations``, for one version."""
    return await _forward(request, get_hub(request), user, name, version)


async def _forward(request: Request, hub: Hub, user: Caller, name: str, version: str | None) -> Response:
    data = await _body(request, wire.MAX_INVOCATION_BYTES, "body")
    headers = {h: request.headers[h] for h in model_proxy.FORWARDED if h in request.headers}
    status_code, content, kept = await model_proxy.invoke(hub, user, name, version, data, headers)
    return Response(content, status_code=status_code, headers=kept)


async def _body(request: Request, limit: int, field: str) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the {field} is {declared} bytes; at most {limit} are taken", field)
    data = await request.body()
    if len(data) > limit:
        raise TooLarge(f"the {field} is over {limit} bytes", field)
    return data
