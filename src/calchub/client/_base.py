"""The HTTP seam of the client: one httpx.Client, and error answers raised as ``client.errors``."""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from calchub.client import config
from calchub.client.errors import ServerUnreachable, raise_for


class BaseClient:
    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, token = config.resolve(url, token)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v1", headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        chosen = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        try:
            response = self._http.request(method, path, timeout=chosen, **kwargs)
        except httpx.TransportError as error:
            raise ServerUnreachable(f"cannot reach the calchub server at {self.url}: {error}") from error
        raise_for(response)
        return response


def segment(name: str) -> str:
    """A user or project name as one path segment, so no name can reach another route."""
    return quote(name, safe="~")


def given(model: BaseModel) -> dict[str, Any]:
    """The model as JSON without its top-level fields left at None: a PATCH changes only what is given."""
    return {key: value for key, value in model.model_dump(mode="json").items() if value is not None}
