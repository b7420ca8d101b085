"""Clusters: register one, its agent command, keys, enable or disable, partitions and load over time.

The pages call the services the API calls (``services.clusters`` for changes,
``services.overview`` for what is shown) with the same checks: reading needs
``clusters:read``, every button ``clusters:manage``, and a page shows no button its
viewer may not press. A new agent key is shown once, in the answer to the POST that
made it, and never again. The graphs and the agents' state stay live through one
server-sent-events stream per page (``/clusters/{name}/live``, ``/live/clusters``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import ValidationError

from calchub.contracts import clusters as wire
from calchub.domain.permissions import Action
from calchub.server.services import clusters, heartbeats, overview
from calchub.server.services.errors import Forbidden, ServiceError
from calchub.server.services.unit import CALLERS
from calchub.server.services.wakeups import wait_first
from calchub.server.web.rendering import allowed, render, sse, templates
from calchub.server.web.session import HubDep, PageViewer, Viewer

router = APIRouter(include_in_schema=False)
EXECUTORS = ("local", "slurm")
#: The windows a cluster's graphs offer, in hours.
WINDOWS = [(1, "1 hour"), (6, "6 hours"), (24, "1 day"), (48, "2 days"), (168, "7 days"), (720, "30 days")]
Hours = Annotated[float, Query(gt=0, le=wire.MAX_LOAD_HOURS)]
#: A live stream ends after this long (the browser opens it again at once, as the viewer it is then)
#: and sends the agents' state at least this often, so an agent that went quiet turns offline.
STREAM_SECONDS = 600.0
QUIET_SECONDS = 15.0
#: Samples come from every agent of every cluster: a stream sends at most one snapshot this often.
EVERY_SECONDS = 3.0


def _stale_after(hub: HubDep) -> timedelta:
    """An agent whose last heartbeat is a lease old is offline: its work is about to be retried."""
    return timedelta(seconds=hub.settings.lease_seconds)


# -- the list, and adding a cluster -----------------------------------------------------------


@router.get("/clusters", response_class=HTMLResponse)
def cluster_list(hub: HubDep, request: Request, who: PageViewer) -> Response:
    allowed(who, Action.CLUSTERS_READ)
    return _list_page(hub, request, who, {}, {})


def _list_page(
    hub: HubDep,
    request: Request,
    who: Viewer,
    form: dict[str, str],
    problems: dict[str, str],
    status: int = 200,
) -> Response:
    with hub.uow() as session:
        found = overview.cluster_summaries(session, _stale_after(hub))
    context: dict[str, Any] = {"summaries": found, "form": form, "problems": problems, "executors": EXECUTORS}
    context["can_manage"] = who.caller.may(Action.CLUSTERS_MANAGE)
    return render(request, who, "pages/clusters.html", status=status, active="clusters", **context)


@router.post("/clusters", response_class=HTMLResponse)
def add_cluster(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    executor: Annotated[str, Form(max_length=100)] = "local",
) -> Response:
    allowed(who, Action.CLUSTERS_MANAGE)
    form = {"name": name, "description": description, "executor": executor}
    try:
        if executor not in EXECUTORS:
            return _list_page(hub, request, who, form, {"executor": "choose local or slurm"}, 422)
        body = wire.ClusterCreate(name=name.strip(), description=description.strip(), executor=executor)
        with hub.uow() as session:
            made = clusters.register(session, body, actor=who.caller.actor)
    except ValidationError as error:
        problems = {str(e["loc"][0]): _said(e) for e in error.errors(include_url=False)}
        return _list_page(hub, request, who, form, problems, 422)
    except ServiceError as error:
        return _list_page(hub, request, who, form, {error.field or "name": error.message}, error.status)
    return _to(request, who, f"/clusters/{made.name}")


def _said(error: Any) -> str:
    if error["type"] == "string_pattern_mismatch":
        return "letters, digits, '.', '_' and '-', starting with a letter or digit (at most 63)"
    return str(error["msg"])


def _to(request: Request, who: Viewer, where: str) -> Response:
    """After a button: the page again, by GET (and no form to post twice)."""
    return who.finish(request, RedirectResponse(where, status_code=303))


# -- one cluster ------------------------------------------------------------------------------


@router.get("/clusters/{name}", response_class=HTMLResponse)
def cluster_page(hub: HubDep, request: Request, who: PageViewer, name: str, hours: Hours = 6.0) -> Response:
    allowed(who, Action.CLUSTERS_READ)
    return _cluster_page(hub, request, who, name, hours, None)


def _cluster_page(
    hub: HubDep,
    request: Request,
    who: Viewer,
    name: str,
    hours: float,
    issued: wire.AgentKeyIssued | None,
    status: int = 200,
) -> Response:
    can_manage = who.caller.may(Action.CLUSTERS_MANAGE)
    with hub.uow() as session:
        detail = overview.cluster_detail(session, name, _stale_after(hub), hours)
        keys = clusters.keys(session, name) if can_manage else []
    cluster = detail.summary.cluster
    context: dict[str, Any] = {"detail": detail, "summary": detail.summary, "cluster": cluster}
    context |= {"keys": keys, "issued": issued, "can_manage": can_manage, "hours": hours, "windows": WINDOWS}
    context |= {
        "command": agent_command(str(request.base_url), cluster.executor, issued.key if issued else None)
    }
    context["loads"] = {cluster.name: detail.load.model_dump(mode="json")}
    response = render(request, who, "pages/cluster.html", status=status, active="clusters", **context)
    if issued is not None:
        response.headers["Cache-Control"] = "no-store"  # the key is in this answer, and only here
    return response


def agent_command(base_url: str, executor: str, key: str | None) -> str:
    """The command that starts an agent of this cluster, speaking to this server."""
    parts = ["calchub agent", f"--url {base_url.rstrip('/')}", f"--key {key or 'KEY'}"]
    if executor != "local":
        parts.append(f"--executor {executor}")
    return " ".join(parts)


@router.post("/clusters/{name}/keys", response_class=HTMLResponse)
def create_key(hub: HubDep, request: Request, who: PageViewer, name: str) -> Response:
    allowed(who, Action.CLUSTERS_MANAGE)
    with hub.uow() as session:
        issued = clusters.issue_key(session, name, actor=who.caller.actor)
    return _cluster_page(hub, request, who, name, 6.0, issued, status=201)


@router.post("/clusters/{name}/keys/{key_id}/rotate", response_class=HTMLResponse)
def rotate_key(
    hub: HubDep,
    request: Request,
    who: PageViewer,
    name: str,
    key_id: int,
    grace_minutes: Annotated[int, Form(ge=0, le=7 * 24 * 60)] = 0,
) -> Response:
    allowed(who, Action.CLUSTERS_MANAGE)
    with hub.uow() as session:
        issued = clusters.rotate_key(session, name, key_id, grace_minutes, actor=who.caller.actor)
    return _cluster_page(hub, request, who, name, 6.0, issued, status=201)


@router.post("/clusters/{name}/keys/{key_id}/revoke")
def revoke_key(hub: HubDep, request: Request, who: PageViewer, name: str, key_id: int) -> Response:
    allowed(who, Action.CLUSTERS_MANAGE)
    with hub.uow() as session:
        clusters.revoke_key(session, name, key_id, actor=who.caller.actor)
    return _to(request, who, f"/clusters/{name}#keys")


@router.post("/clusters/{name}/enabled")
def set_enabled(
    hub: HubDep, request: Request, who: PageViewer, name: str, enabled: Annotated[bool, Form()]
) -> Response:
    allowed(who, Action.CLUSTERS_MANAGE)
    with hub.uow() as session:
        clusters.update(session, name, wire.ClusterUpdate(enabled=enabled), actor=who.caller.actor)
    return _to(request, who, f"/clusters/{name}")


# -- live -------------------------------------------------------------------------------------


@router.get("/clusters/{name}/live")
async def cluster_live(
    hub: HubDep, request: Request, who: PageViewer, name: str, hours: Hours = 6.0
) -> Response:
    """``load`` events carry the graphs' JSON (by cluster name), ``status`` the agents' state."""
    allowed(who, Action.CLUSTERS_READ)
    keys = [f"{heartbeats.LOAD}:{name}", CALLERS]
    events = [hub.wakeups.current(k) for k in keys]  # before the first look, so no sample is missed

    def snapshot() -> list[bytes]:
        _recheck(hub, who)
        with hub.uow() as session:
            detail = overview.cluster_detail(session, name, _stale_after(hub), hours)
        status = templates.get_template("partials/cluster_status.html").render(summary=detail.summary)
        loads = {detail.summary.cluster.name: detail.load.model_dump(mode="json")}
        return [sse("load", json.dumps(loads)), sse("status", status.strip())]

    first = await run_in_threadpool(snapshot)  # a cluster that is not there: 404, not a stream
    return _stream(request, who, _events(hub, keys, events, snapshot, first))


@router.get("/live/clusters")
async def clusters_live(hub: HubDep, request: Request, who: PageViewer, hours: Hours = 6.0) -> Response:
    """For the dashboard and the list: ``load`` (every cluster's graphs), ``status-<id>`` (each
    cluster's card) and ``rows`` (the list's table)."""
    allowed(who, Action.CLUSTERS_READ)
    keys = [heartbeats.LOAD, CALLERS]
    events = [hub.wakeups.current(k) for k in keys]

    def snapshot() -> list[bytes]:
        _recheck(hub, who)
        with hub.uow() as session:
            found = clusters.all_clusters(session)
            summaries = overview.summaries_of(found, _stale_after(hub))
            loads = overview.all_loads(session, found, hours, overview.DASHBOARD_POINTS)
        card = templates.get_template("partials/cluster_card_facts.html")
        rows = templates.get_template("partials/cluster_rows.html").render(summaries=summaries)
        chunks = [sse("load", json.dumps({k: v.model_dump(mode="json") for k, v in loads.items()}))]
        chunks += [sse(f"status-{s.cluster.id}", card.render(summary=s).strip()) for s in summaries]
        return [*chunks, sse("rows", rows.strip())]

    first = await run_in_threadpool(snapshot)
    return _stream(request, who, _events(hub, keys, events, snapshot, first))


def _recheck(hub: HubDep, who: Viewer) -> None:
    """Who is watching, asked again each time: a block or a lost role ends the stream."""
    if not hub.user_for(who.secret).may(Action.CLUSTERS_READ):
        raise Forbidden("you may no longer see clusters")


def _stream(request: Request, who: Viewer, body: AsyncIterator[bytes]) -> Response:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return who.finish(request, StreamingResponse(body, media_type="text/event-stream", headers=headers))


async def _events(
    hub: HubDep,
    keys: list[str],
    events: list[asyncio.Event],
    snapshot: Callable[[], list[bytes]],
    chunks: list[bytes],
) -> AsyncIterator[bytes]:
    """``chunks`` now, then a new snapshot whenever a sample is written (or ``QUIET_SECONDS``
    pass), at most one each ``EVERY_SECONDS``, until ``STREAM_SECONDS`` have passed or the viewer
    may no longer watch."""
    yield b"retry: 2000\n\n"
    ends = time.monotonic() + STREAM_SECONDS
    while True:
        sent = time.monotonic()
        for chunk in chunks:
            yield chunk
        if sent >= ends:
            return
        await wait_first(events, min(QUIET_SECONDS, ends - sent))
        # Samples that come close together make one snapshot: those written during the pause
        # are in it, as the events are taken again only after it.
        if (pause := sent + EVERY_SECONDS - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        events = [hub.wakeups.current(k) for k in keys]
        try:
            chunks = await run_in_threadpool(snapshot)
        except ServiceError:
            return
