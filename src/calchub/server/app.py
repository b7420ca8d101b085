"""create_app(settings): the FastAPI application. Nothing happens at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

import calchub
from calchub.domain.models import Policy
from calchub.models.base import Runtime
from calchub.models.container import ContainerRuntime
from calchub.models.process import ProcessRuntime
from calchub.server.api import (
    agents,
    auth,
    calctypes,
    calculations,
    clusters,
    errors,
    health,
    logs,
    models,
    projects,
    results,
    studies,
    users,
)
from calchub.server.api.deps import describe_permissions
from calchub.server.db.migrate import upgrade
from calchub.server.db.tables import now
from calchub.server.hub import Hub
from calchub.server.notify.smtp import SmtpSettings
from calchub.server.services import agents as agent_service
from calchub.server.services import chains, notices, transitions
from calchub.server.services import models as model_registry
from calchub.server.services.model_supervisor import Supervisor
from calchub.server.services.wakeups import wait_first
from calchub.server.settings import Settings
from calchub.server.wakeup_bridge import PostgresWakeups
from calchub.server.web import errors as web_errors
from calchub.server.web.routes import ROUTERS as PAGE_ROUTERS
from calchub.server.web.session import RenewedCookies, SignInNeeded, to_sign_in

log = logging.getLogger("calchub.server")
T = TypeVar("T")
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def create_app(settings: Settings | None = None, hub: Hub | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        the_hub = hub or Hub.from_settings(settings)
        await run_in_threadpool(upgrade, the_hub.engine)
        the_hub.wakeups.bind(asyncio.get_running_loop())
        with the_hub.uow() as session:
            extended = agent_service.grace_after_restart(session, settings.lease_seconds)
        log.info("started", extra={"action": "server.start", "leases_extended": extended})
        app.state.hub = the_hub
        tasks = [
            asyncio.create_task(_reap_forever(the_hub)),
            asyncio.create_task(_follow_chains(the_hub)),
            asyncio.create_task(_notify_forever(the_hub)),
        ]
        if settings.run_models:
            tasks.append(asyncio.create_task(_supervise_models(the_hub)))
        if the_hub.engine.dialect.name == "postgresql":
            tasks.append(await _hear_other_replicas(the_hub))
        try:
            yield
        finally:
            for task in reversed(tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await the_hub.close()
            if hub is None:
                the_hub.engine.dispose()

    app = FastAPI(
        title="calchub",
        version=calchub.__version__,
        description="A self-hosted calculation service: submit, watch, cancel and collect calculations.",
        lifespan=lifespan,
    )
    routers = (
        health,
        auth,
        users,
        projects,
        calculations,
        studies,
        results,
        calctypes,
        clusters,
        logs,
        models,
        agents,
    )
    for router in (module.router for module in routers):
        app.include_router(describe_permissions(router), prefix="/api/v1")
    for page_router in PAGE_ROUTERS:
        app.include_router(page_router)
    app.mount("/static", StaticFiles(packages=[("calchub.server.web", "static")]), name="static")
    errors.install(app, page=web_errors.page)
    app.add_exception_handler(SignInNeeded, to_sign_in)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(RenewedCookies)
    return app


async def _hear_other_replicas(hub: Hub) -> asyncio.Task[None]:
    """Listen for other server processes' wake-ups; return once listening."""
    bridge = PostgresWakeups(hub.engine, hub.wakeups)
    task = asyncio.create_task(bridge.run())
    await asyncio.wait_for(bridge.listening.wait(), 30)
    return task


async def _reap_forever(hub: Hub) -> None:
    """Mark calculations whose agent stopped renewing its lease as lost."""
    every = min(hub.settings.lease_seconds / 4, 5.0)
    while True:
        await asyncio.sleep(every)
        await _in_thread(_reap_once, hub, "leases.error", "lease check failed")


async def _follow_chains(hub: Hub) -> None:
    """Release calculations whose parents completed, skip those whose parents never will.

    Woken (``chains``) when a calculation with children ends, or something begins to wait;
    each pass is a transaction of its own, taken from the queue until it is empty. The first
    looks again at everything that waits (a stop may have cut a pass short).
    """
    await _in_thread(_start_chains, hub, "chains.error", "following chains failed")
    while True:
        news = hub.wakeups.current(chains.CHAINS)
        while await _in_thread(_follow_once, hub, "chains.error", "following chains failed"):
            pass
        await news.wait()


def _start_chains(hub: Hub) -> None:
    with hub.uow() as session:
        chains.start(session)


def _follow_once(hub: Hub) -> bool:
    """One pass over a page of the queue; whether there may be more."""
    with hub.uow() as session:
        return chains.advance(session, hub.store, hub.calctypes)


async def _supervise_models(hub: Hub) -> None:
    """Run the models people start, until the server stops (which stops them)."""
    settings = hub.settings
    runtimes: dict[str, Runtime] = {}
    if "process" in settings.model_runtimes:
        runtimes["process"] = ProcessRuntime()
    if "container" in settings.model_runtimes:
        runtimes["container"] = ContainerRuntime()
    policy = Policy(backoff_seconds=settings.model_backoff_seconds, max_failures=settings.model_max_failures)

    async def db(work: Callable[[Session], T]) -> T:
        def in_session(h: Hub) -> T:
            with h.uow() as session:
                return work(session)

        return await _shielded(in_session, hub)

    supervisor = Supervisor(db, hub.store, runtimes, settings.model_host, settings.model_ping_seconds, policy)
    await supervisor.run(lambda: hub.wakeups.current(model_registry.MODELS))


async def _notify_forever(hub: Hub) -> None:
    """Spread new notices into deliveries and send those due; woken by a notice (``notices``),
    or when the next delivery waiting to be tried again is due."""
    mailer = _mailer(hub.settings)
    while True:
        news = hub.wakeups.current(transitions.NOTICES)
        while await _in_thread(
            lambda h: _spread_once(h, mailer), hub, "notify.error", "spreading notices failed"
        ):
            pass
        delay = await _in_thread(
            lambda h: _send_due(h, mailer), hub, "notify.error", "sending notices failed"
        )
        await wait_first([news], timeout=3600 if delay is None else delay)


def _mailer(settings: Settings) -> notices.Mailer:
    smtp = None
    if settings.smtp_host:
        port = settings.smtp_port or {"starttls": 587, "tls": 465, "none": 25}[settings.smtp_security]
        smtp = SmtpSettings(
            host=settings.smtp_host,
            port=port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_sender,
        )
    return notices.Mailer(
        smtp=smtp,
        public_url=settings.public_url.rstrip("/"),
        digest_seconds=settings.notify_digest_seconds,
        retry_seconds=settings.notify_retry_seconds,
    )


def _spread_once(hub: Hub, mailer: notices.Mailer) -> bool:
    with hub.uow() as session:
        return notices.spread(session, mailer)


def _send_due(hub: Hub, mailer: notices.Mailer) -> float | None:
    """Send what is due, a message at a time; seconds until the next is due (None: nothing waits)."""
    while True:
        with hub.uow() as session:
            outgoing = notices.take_due(session, hub.store, mailer)
        if not outgoing:
            break
        for message in outgoing:
            sent, error, retry = notices.deliver(message)
            if not sent:
                extra = {"action": "notify.failed", "to": message.to, "error": error, "retry": retry}
                log.warning("message not sent", extra=extra)
            with hub.uow() as session:
                notices.mark(session, message, sent, error, retry, mailer)
    with hub.uow() as session:
        due = notices.next_due(session)
    return None if due is None else max(0.01, (due - now()).total_seconds())


async def _shielded(work: Callable[[Hub], T], hub: Hub) -> T:
    """Run ``work`` in a thread; a cancel waits for it to end (the lifespan disposes the engine
    next, and a connection still checked out would be left open)."""
    running = asyncio.ensure_future(run_in_threadpool(work, hub))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await running
        raise


async def _in_thread(work: Callable[[Hub], T], hub: Hub, action: str, failure: str) -> T | None:
    """Run ``work`` as ``_shielded`` does; a failure is logged (None then)."""
    try:
        return await _shielded(work, hub)
    except Exception:
        log.exception(failure, extra={"action": action})
        return None


def _reap_once(hub: Hub) -> None:
    with hub.uow() as session:
        lost = agent_service.expire_leases(session)
    if lost:
        log.warning("leases lapsed", extra={"action": "leases.lost", "calculations": lost})


class BodyLimit:
    """Refuse a JSON body whose declared size is over the limit (uploads have their own)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/api/v1/agent/calculations/"):
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if length.isdigit() and int(length) > self.limit:
                response = JSONResponse(
                    {"detail": f"the request body is over {self.limit} bytes (CALCHUB_MAX_REQUEST_BYTES)"},
                    status_code=413,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
