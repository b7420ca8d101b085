"""Dependencies that make routes read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from calchub.server.hub import Hub
from calchub.server.services import auth
from calchub.server.services.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="a user token (chu_...) or an agent key (cha_...)")


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise Unauthorized("send 'Authorization: Bearer <token>'; `calchub token create` makes one")
    return credentials.credentials


def current_user(hub: HubDep, credentials: Credentials) -> auth.Caller:
    secret = _secret(credentials)
    cached = hub.callers.get(secret)
    if isinstance(cached, auth.Caller):
        return cached
    with hub.uow() as session:
        caller = auth.user_for_token(session, secret)
    hub.callers.put(secret, caller)
    return caller


def current_agent(hub: HubDep, credentials: Credentials) -> auth.AgentCaller:
    secret = _secret(credentials)
    cached = hub.callers.get(secret)
    if isinstance(cached, auth.AgentCaller):
        return cached
    with hub.uow() as session:
        agent = auth.agent_for_key(session, secret)
    hub.callers.put(secret, agent)
    return agent


CurrentUser = Annotated[auth.Caller, Depends(current_user)]
CurrentAgent = Annotated[auth.AgentCaller, Depends(current_agent)]
