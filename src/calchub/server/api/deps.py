"""Dependencies that make routes read like prose, and the permission check of every route.

Each route names what it does with one of the aliases below (``Reader``,
``Writer``, ``Moderator`` ...); the alias checks the caller's role against
``domain.permissions`` and the credential's scope. ``describe_permissions``
then writes each route's rule into the OpenAPI description
(``x-calchub-permission``), where the permission-matrix test reads it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from calchub.contracts.calculations import MAX_ID
from calchub.domain.permissions import Action, scope_allows
from calchub.server.hub import Hub
from calchub.server.services import auth
from calchub.server.services.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(
    auto_error=False,
    description="an access token (a JWT), a personal token (chu_...) or an agent key (cha_...)",
)


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]
#: Ids in paths and attempts in queries, bounded to what the database stores.
RecordId = Annotated[int, Path(ge=1, le=MAX_ID)]
AttemptQuery = Annotated[int, Query(ge=0, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=2**62)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise Unauthorized("send 'Authorization: Bearer <token>'; `calchub token create` makes one")
    return credentials.credentials


def current_user(hub: HubDep, credentials: Credentials) -> auth.Caller:
    secret = _secret(credentials)
    if secret.startswith(auth.AGENT_PREFIX):
        raise Unauthorized("agent keys are for the agent endpoints; users sign in or use a personal token")
    return hub.user_for(secret)


def current_agent(hub: HubDep, credentials: Credentials) -> auth.AgentCaller:
    return hub.agent_for(_secret(credentials))


current_agent.permission = {"caller": "agent"}  # type: ignore[attr-defined]


def _rechecker(hub: HubDep, credentials: Credentials) -> Callable[[], auth.Caller]:
    """For requests that last (long-polls, streams): who the caller is now, so that a block or
    a lost membership ends what they were waiting on, not only their next request."""
    return lambda: current_user(hub, credentials)


#: Call it on every round of a long wait; raises ``Unauthorized`` once the credential stops working.
Recheck = Annotated[Callable[[], auth.Caller], Depends(_rechecker)]


def require(
    action: Action, within: str | None = None, reads: bool = False
) -> Callable[..., Awaitable[auth.Caller]]:
    """A dependency: the signed-in caller, if their role and credential allow ``action``.

    ``within`` says which record the route acts on ("project", "calculation", "study"): its service
    answers a caller who does not belong to the record's project 404, as if it did not exist
    (the service enforces it; here it is only described, for the OpenAPI rule and its test).
    ``reads`` marks a POST that changes nothing (a long-poll), which read-only tokens may call.
    """

    async def check(request: Request, credentials: Credentials) -> auth.Caller:
        caller = await _signed_in(request, credentials)
        if not scope_allows(caller.scope, action, "GET" if reads else request.method):
            raise Forbidden("this token is read-only; use a full token to change anything")
        if not caller.may(action):
            raise Forbidden(f"a {caller.role} may not do this ({action.value})")
        return caller

    rule = {"caller": "user", "action": action.value, "within": within, "reads": reads}
    check.permission = rule  # type: ignore[attr-defined]
    return check


async def _signed_in(request: Request, credentials: HTTPAuthorizationCredentials | None) -> auth.Caller:
    """``current_user``, without a trip through the threadpool when the credential's caller is
    cached (nearly always: a sync dependency costs each request about 0.08 ms on 2 cores).
    Anything else (no credential, an agent key, a caller not cached) is ``current_user``'s to
    refuse or look up, in the threadpool."""
    hub = get_hub(request)
    cached = hub.callers.get(credentials.credentials) if credentials is not None else None
    if isinstance(cached, auth.Caller):
        return cached
    return await run_in_threadpool(current_user, hub, credentials)


def public() -> None:
    """Marks a route that anyone may call (health, signing in)."""


public.permission = {"caller": "anyone"}  # type: ignore[attr-defined]

CurrentAgent = Annotated[auth.AgentCaller, Depends(current_agent)]
Anyone = Depends(public)
Reader = Annotated[auth.Caller, Depends(require(Action.CALCULATIONS_READ))]
Waiter = Annotated[auth.Caller, Depends(require(Action.CALCULATIONS_READ, reads=True))]
CalcReader = Annotated[auth.Caller, Depends(require(Action.CALCULATIONS_READ, "calculation"))]
CalcWriter = Annotated[auth.Caller, Depends(require(Action.CALCULATIONS_WRITE, "calculation"))]
Writer = Annotated[auth.Caller, Depends(require(Action.CALCULATIONS_WRITE))]
StudyReader = Annotated[auth.Caller, Depends(require(Action.CALCULATIONS_READ, "study"))]
StudyWriter = Annotated[auth.Caller, Depends(require(Action.CALCULATIONS_WRITE, "study"))]
Approver = Annotated[auth.Caller, Depends(require(Action.CALCULATIONS_APPROVE, "calculation"))]
Self = Annotated[auth.Caller, Depends(require(Action.SELF))]
ProjectReader = Annotated[auth.Caller, Depends(require(Action.PROJECTS_READ))]
InProject = Annotated[auth.Caller, Depends(require(Action.PROJECTS_READ, "project"))]
ProjectMembers = Annotated[auth.Caller, Depends(require(Action.PROJECTS_MEMBERS, "project"))]
ProjectAdmin = Annotated[auth.Caller, Depends(require(Action.PROJECTS_MANAGE))]
UsersReader = Annotated[auth.Caller, Depends(require(Action.USERS_READ))]
UsersBlocker = Annotated[auth.Caller, Depends(require(Action.USERS_BLOCK))]
PasswordResetter = Annotated[auth.Caller, Depends(require(Action.USERS_PASSWORD))]
UsersAdmin = Annotated[auth.Caller, Depends(require(Action.USERS_MANAGE))]
SessionsAdmin = Annotated[auth.Caller, Depends(require(Action.SESSIONS_REVOKE_ALL))]
ClusterReader = Annotated[auth.Caller, Depends(require(Action.CLUSTERS_READ))]
ClusterAdmin = Annotated[auth.Caller, Depends(require(Action.CLUSTERS_MANAGE))]
LogReader = Annotated[auth.Caller, Depends(require(Action.LOGS_READ))]
LogsAdmin = Annotated[auth.Caller, Depends(require(Action.LOGS_DELETE))]
ModelsReader = Annotated[auth.Caller, Depends(require(Action.MODELS_READ))]
ModelReader = Annotated[auth.Caller, Depends(require(Action.MODELS_READ, "model"))]
ModelWaiter = Annotated[auth.Caller, Depends(require(Action.MODELS_READ, "model", reads=True))]
ModelRegistrar = Annotated[auth.Caller, Depends(require(Action.MODELS_WRITE))]
ModelWriter = Annotated[auth.Caller, Depends(require(Action.MODELS_WRITE, "model"))]
ModelInvoker = Annotated[auth.Caller, Depends(require(Action.MODELS_INVOKE, "model", reads=True))]
ModelAdmin = Annotated[auth.Caller, Depends(require(Action.MODELS_DELETE, "model"))]


def describe_permissions(router: APIRouter) -> APIRouter:
    """Write each route's rule into its OpenAPI operation; a route without one is a bug."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        rules = _rules(route.dependant)
        if len(rules) != 1:
            raise RuntimeError(
                f"{sorted(route.methods or [])} {route.path} needs exactly one permission rule "
                f"(deps.require, CurrentAgent or Anyone); it has {len(rules)}"
            )
        route.openapi_extra = {**(route.openapi_extra or {}), "x-calchub-permission": rules[0]}
    return router


def _rules(dependant: Dependant) -> list[dict[str, Any]]:
    found = []
    call = dependant.call
    if call is not None and hasattr(call, "permission"):
        found.append(call.permission)
    for sub in dependant.dependencies:
        found += _rules(sub)
    return found
