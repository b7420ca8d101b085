"""AgentClient: the async HTTP calls a site agent makes, with its cluster's key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from calchub.client.errors import ServerUnreachable, raise_for
from calchub.contracts import agents as wire
from calchub.contracts.calculations import FileInfo


class AgentClient:
    def __init__(self, url: str, key: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=f"{self.url}/api/v1/agent",
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        chosen = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        try:
            response = await self._http.request(method, path, timeout=chosen, **kwargs)
        except httpx.TransportError as error:
            raise ServerUnreachable(f"cannot reach {self.url}: {error!r}") from error
        raise_for(response)
        return response

    async def heartbeat(self, beat: wire.Heartbeat) -> wire.HeartbeatReply:
        response = await self._call("POST", "/heartbeat", json=beat.model_dump(mode="json"))
        return wire.HeartbeatReply.model_validate(response.json())

    async def claim(self, request: wire.ClaimRequest) -> wire.ClaimReply:
        body = request.model_dump(mode="json")
        response = await self._call("POST", "/claim", json=body, timeout=request.wait + 30)
        return wire.ClaimReply.model_validate(response.json())

    async def report(self, batch: wire.ReportBatch) -> wire.ReportReply:
        response = await self._call("POST", "/reports", json=batch.model_dump(mode="json"))
        return wire.ReportReply.model_validate(response.json())

    async def append_log(self, calc_id: int, attempt: int, stream: str, offset: int, data: bytes) -> int:
        params = {"attempt": attempt, "offset": offset}
        response = await self._call(
            "PUT", f"/calculations/{calc_id}/logs/{stream}", params=params, content=data
        )
        size: int = response.json()["size"]
        return size

    async def upload(self, calc_id: int, attempt: int, path: str, source: Path) -> FileInfo:
        async def chunks() -> Any:
            with source.open("rb") as handle:
                while chunk := handle.read(1024 * 1024):
                    yield chunk

        headers = {"Content-Length": str(source.stat().st_size)}  # noqa: ASYNC240 - one stat
        response = await self._call(
            "PUT",
            f"/calculations/{calc_id}/files/{path}",
            params={"attempt": attempt},
            content=chunks(),
            headers=headers,
            timeout=600,
        )
        return FileInfo.model_validate(response.json())

    async def fetch_input(self, calc_id: int, attempt: int, path: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            async with self._http.stream(
                "GET", f"/calculations/{calc_id}/inputs/{path}", params={"attempt": attempt}
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise_for(response)
                with target.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
        except httpx.TransportError as error:
            raise ServerUnreachable(f"cannot reach {self.url}: {error!r}") from error
