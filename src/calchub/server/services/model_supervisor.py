"""The model runtime's supervisor: starts wanted models, pings them, restarts them, stops them.

One task of the server that runs models (``CALCHUB_RUN_MODELS``). Each round it reads the
versions someone wants running (or that still run), pings those it holds with
``GET /ping``, asks :func:`calchub.domain.models.decide` what follows, acts (start on a
free port, stop, restart after the backoff) and writes what it saw in one transaction: the
state, the last ping, the restarts. A version that fails ``max_failures`` times in a row is
``failed``, and a ``model.failed`` notice tells its owner (and admins). Rounds come every
``CALCHUB_MODEL_PING_SECONDS``, sooner while a model starts or a restart is due, and at once
when someone starts or stops one (the ``models`` wake-up).

The processes it starts stop with the server; a server that starts again finds the versions
that were running, ends what is left of them, and starts them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from sqlalchemy.orm import Session

from calchub.contracts.models import ModelSpec
from calchub.domain.models import Act, Decision, Look, ModelState, Policy, decide, failure
from calchub.models.base import Launch, Runtime, Served, StartFailed, free_port, ping
from calchub.server.db.tables import Notice, now
from calchub.server.repositories import models as repo
from calchub.server.services import models as registry
from calchub.server.services.transitions import NOTICES
from calchub.server.services.unit import wake
from calchub.server.storage import Store

log = logging.getLogger("calchub.server")
T = TypeVar("T")
Db = Callable[[Callable[[Session], T]], Awaitable[T]]
#: How often a model that is starting is pinged, whatever the beat.
STARTING_PING_SECONDS = 0.2
#: How long a model has to end after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 5.0


@dataclass
class Held:
    served: Served
    began: float


@dataclass(frozen=True)
class Seen:
    """A version as the round read it."""

    id: int
    name: str
    version: str
    spec: ModelSpec
    wanted: bool
    state: ModelState
    failures: int
    missed: int
    restarts: int
    next_start_at: datetime | None
    project_id: int


@dataclass
class Supervisor:
    db: Db[Any]
    store: Store
    runtimes: dict[str, Runtime]
    host: str = "127.0.0.1"
    ping_seconds: float = 5.0
    policy: Policy = field(default_factory=Policy)
    held: dict[int, Held] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(trust_env=False)
        self.hostname = os.uname().nodename

    async def run(self, woken: Callable[[], asyncio.Event]) -> None:
        """Rounds until cancelled; then every model it runs is stopped."""
        try:
            await self.db(self._reset)
            while True:
                event = woken()
                try:
                    pause = await self.round()
                except Exception:  # a database that went away, a bug: the models run on meanwhile
                    log.exception("a round of the model runtime failed", extra={"action": "model.error"})
                    pause = self.ping_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), pause)
        finally:
            await self.stop_all()

    async def stop_all(self) -> None:
        held, self.held = self.held, {}
        await asyncio.gather(*(h.served.stop(STOP_GRACE_SECONDS) for h in held.values()))
        with contextlib.suppress(Exception):
            await self.db(lambda session: _mark_stopped(session, list(held)))
        with contextlib.suppress(Exception):
            await self.http.aclose()
        for runtime in self.runtimes.values():
            await runtime.close()

    # -- one round ---------------------------------------------------------------------------

    async def round(self) -> float:
        """Look at every model once and act; seconds until the next round is needed."""
        seen = await self.db(_read)
        for model_id in set(self.held) - {s.id for s in seen}:
            await self._stop(model_id)  # deleted while it ran
        answers = await self._pings(seen)
        changes: dict[int, dict[str, Any]] = {}
        failed: list[tuple[Seen, str]] = []
        for model in seen:
            decision = decide(self._look(model, answers.get(model.id, False)), self.policy)
            change = await self._act(model, decision)
            if decision.gave_up and model.state is not ModelState.FAILED:
                failed.append((model, decision.message or "failed"))
            changes[model.id] = change
        await self.db(lambda session: _write(session, seen, changes, failed))
        return self._pause(seen, changes)

    async def _pings(self, seen: list[Seen]) -> dict[int, bool]:
        alive = [s for s in seen if s.id in self.held and self.held[s.id].served.exit_code() is None]
        timeout = min(2.0, max(self.ping_seconds, 0.5))
        results = await asyncio.gather(
            *(ping(self.http, self.held[s.id].served.endpoint, timeout) for s in alive)
        )
        return {s.id: ok for s, ok in zip(alive, results, strict=True)}

    def _look(self, model: Seen, answered: bool) -> Look:
        held = self.held.get(model.id)
        code = held.served.exit_code() if held else None
        due = (model.next_start_at - now()).total_seconds() if model.next_start_at else 0.0
        return Look(
            wanted=model.wanted,
            state=model.state,
            alive=held is not None and code is None,
            answered=answered,
            running_for=time.monotonic() - held.began if held else 0.0,
            start_seconds=model.spec.start_seconds,
            failures=model.failures,
            missed=model.missed,
            due_in=due,
            exit_code=code,
        )

    async def _act(self, model: Seen, decision: Decision) -> dict[str, Any]:
        change: dict[str, Any] = {
            "state": decision.state,
            "failures": decision.failures,
            "missed": decision.missed,
        }
        if decision.message is not None or decision.state in {ModelState.HEALTHY, ModelState.STOPPED}:
            change["message"] = decision.message
        if model.id in self.held and decision.act is Act.NOTHING:
            change["last_ping_at"] = now()
            if decision.state is ModelState.HEALTHY:
                change["last_healthy_at"] = change["last_ping_at"]
        if decision.act in {Act.STOP, Act.RESTART} or (model.id in self.held and decision.act is Act.START):
            await self._stop(model.id)
            change |= {"pid": None, "port": None, "endpoint": None}
        if decision.act is Act.RESTART:
            change["next_start_at"] = now() + timedelta(seconds=decision.wait)
        if decision.act is Act.START:
            change |= await self._start(model)
        return change

    async def _start(self, model: Seen) -> dict[str, Any]:
        runtime = self.runtimes.get(model.spec.runtime.value)
        port = free_port(self.host)
        launch = Launch(
            model_id=model.id,
            name=model.name,
            version=model.version,
            spec=model.spec,
            folder=registry.package_folder(self.store, model.id),
            log=registry.log_path(self.store, model.id),
            host=self.host,
            port=port,
        )
        try:
            if runtime is None:
                raise StartFailed(f"this server does not run {model.spec.runtime.value} models")
            served = await runtime.start(launch)
        except StartFailed as error:
            return self._could_not_start(model, str(error))
        except Exception as error:  # a runtime's own bug must not end the others' supervision
            log.exception("starting a model failed", extra={"action": "model.error", "model": model.name})
            return self._could_not_start(model, f"{type(error).__name__}: {error}")
        self.held[model.id] = Held(served, time.monotonic())
        log.info(
            "model started", extra={"action": "model.start", "model": model.name, "version": model.version}
        )
        return {
            "state": ModelState.STARTING,
            "host": self.hostname,
            "pid": served.ident,
            "port": port,
            "endpoint": served.endpoint,
            "started_at": now(),
            "next_start_at": None,
            "restarts": model.restarts + (1 if model.state is ModelState.UNHEALTHY else 0),
        }

    def _could_not_start(self, model: Seen, why: str) -> dict[str, Any]:
        look = Look(
            wanted=True,
            state=ModelState.STARTING,
            alive=False,
            answered=False,
            running_for=0.0,
            start_seconds=model.spec.start_seconds,
            failures=model.failures,
            missed=0,
            due_in=0.0,
        )
        decision = failure(look, self.policy, f"could not start: {why}")
        change: dict[str, Any] = {
            "state": decision.state,
            "failures": decision.failures,
            "message": decision.message,
        }
        if not decision.gave_up:
            change["next_start_at"] = now() + timedelta(seconds=decision.wait)
        return change

    async def _stop(self, model_id: int) -> None:
        held = self.held.pop(model_id, None)
        if held is not None:
            await held.served.stop(STOP_GRACE_SECONDS)

    def _pause(self, seen: list[Seen], changes: dict[int, dict[str, Any]]) -> float:
        pause = self.ping_seconds
        for model in seen:
            state = changes.get(model.id, {}).get("state", model.state)
            if state is ModelState.STARTING:
                pause = min(pause, STARTING_PING_SECONDS)
            due = changes.get(model.id, {}).get("next_start_at", model.next_start_at)
            if state is ModelState.UNHEALTHY and due is not None:
                pause = min(pause, max(0.01, (due - now()).total_seconds()))
        return pause

    # -- after a server restart ------------------------------------------------------------------

    def _reset(self, session: Session) -> None:
        """End what a previous server left running here, and let the round start it again."""
        for model in repo.to_run(session):
            if model.pid and model.host == self.hostname and model.runtime == "process":
                _end_leftover(int(model.pid), registry.package_folder(self.store, model.id))
            if model.state != ModelState.FAILED:
                model.state = ModelState.STOPPED.value
            model.pid = model.endpoint = None
            model.port = None
            model.missed = 0
        session.flush()


def _read(session: Session) -> list[Seen]:
    return [
        Seen(
            id=m.id,
            name=m.name,
            version=m.version,
            spec=registry.spec_of(m),
            wanted=m.wanted,
            state=ModelState(m.state),
            failures=m.failures,
            missed=m.missed,
            restarts=m.restarts,
            next_start_at=m.next_start_at,
            project_id=m.project_id,
        )
        for m in repo.to_run(session)
    ]


def _write(
    session: Session, seen: list[Seen], changes: dict[int, dict[str, Any]], failed: list[tuple[Seen, str]]
) -> None:
    moved = False
    written = set()
    for model in seen:
        row = repo.by_id(session, model.id)
        if row is None:  # deleted since the round read it
            continue
        written.add(model.id)
        for name, value in changes.get(model.id, {}).items():
            setattr(row, name, value.value if isinstance(value, ModelState) else value)
        moved |= row.state != model.state.value
    for model, message in failed:
        if model.id in written:
            notice = Notice(
                kind="model.failed",
                level="error",
                model_id=model.id,
                project_id=model.project_id,
                message=message,
            )
            session.add(notice)
            wake(session, NOTICES)
    session.flush()
    if moved:
        wake(session, registry.MODELS)


def _mark_stopped(session: Session, ids: list[int]) -> None:
    for model_id in ids:
        row = repo.by_id(session, model_id)
        if row is not None and row.state != ModelState.FAILED:
            row.state, row.pid, row.port, row.endpoint = ModelState.STOPPED.value, None, None, None
    session.flush()
    wake(session, registry.MODELS)


def _end_leftover(pid: int, package: Path) -> None:
    """Stop a model process a previous server left, if that pid is still that process."""
    try:
        process = psutil.Process(pid)
        if Path(process.cwd()) != package:
            return
        os.killpg(pid, signal.SIGTERM)
    except (psutil.Error, OSError):
        return
