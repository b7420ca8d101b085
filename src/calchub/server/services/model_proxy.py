"""One invocation of a model version: checked, forwarded to the model, its answer returned.

The API's ``POST /models/{name}/invocations`` and the model page's "Try it" form both ask
:func:`invoke`, as their caller: a version the caller does not see is not found (404), one
that is not healthy is unavailable (503), a model that does not answer in its time is a bad
gateway (502). Where each version's invocations go comes from the server's routes (kept
until a model changes), so an invocation costs no database transaction when it is known.
"""

from __future__ import annotations

from typing import Protocol

import httpx
from anyio import to_thread

from calchub.contracts.models import MAX_INVOCATION_BYTES
from calchub.domain.models import ModelState
from calchub.server.services.auth import Caller
from calchub.server.services.errors import BadGateway, NotFound, TooLarge, Unavailable
from calchub.server.services.models import Route

#: The headers of an invocation passed to the model, and of its answer passed back.
FORWARDED = ("content-type", "accept")
ANSWERED = ("content-type",)
#: The header of an answer that names the version that gave it (``name/version``).
ANSWERED_BY = "x-calchub-model"


class KnownRoutes(Protocol):
    def get(self, name: str, version: str | None) -> tuple[bool, Route | None]: ...


class Models(Protocol):
    """What an invocation needs of the server: its routes and its connections to the models."""

    @property
    def model_routes(self) -> KnownRoutes: ...

    @property
    def model_http(self) -> httpx.AsyncClient: ...

    def model_route(self, name: str, version: str | None) -> Route | None: ...


async def invoke(
    models: Models, caller: Caller, name: str, version: str | None, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    """The model's answer to ``body``: its status, its body and its headers (its content type,
    and which version answered). ``headers`` are the invocation's, by lower-case name."""
    route = await _route(models, caller, name, version)
    if len(body) > MAX_INVOCATION_BYTES:
        raise TooLarge(f"the body is over {MAX_INVOCATION_BYTES} bytes", "body")
    sent = {h: headers[h] for h in FORWARDED if h in headers}
    try:
        answer = await models.model_http.post(
            f"{route.endpoint}/invocations", content=body, headers=sent, timeout=route.timeout
        )
    except httpx.TimeoutException as error:
        raise BadGateway(f"{route.name} {route.version} did not answer within {route.timeout:g} s") from error
    except httpx.HTTPError as error:
        raise Unavailable(
            f"{route.name} {route.version} is not answering ({error}); the runtime will restart it"
        ) from error
    kept = {h: answer.headers[h] for h in ANSWERED if h in answer.headers}
    kept[ANSWERED_BY] = f"{route.name}/{route.version}"
    return answer.status_code, answer.content, kept


async def _route(models: Models, caller: Caller, name: str, version: str | None) -> Route:
    """Where the version's invocations go, if the caller sees it and it is healthy."""
    known, route = models.model_routes.get(name, version)
    if not known:
        route = await to_thread.run_sync(models.model_route, name, version)
    if route is None or not caller.sees(route.project_id):
        what = f"{name} version {version}" if version else f"a model named {name!r}"
        raise NotFound(f"no {what} that you can see; `calchub model ls` lists them", "name")
    if route.state is not ModelState.HEALTHY or route.endpoint is None:
        why = f": {route.message}" if route.message else ""
        hint = f"`calchub model start {name}` starts it"
        raise Unavailable(f"{route.name} {route.version} is {route.state.value}{why}; {hint}")
    return route
