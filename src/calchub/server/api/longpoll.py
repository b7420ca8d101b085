"""Holding a request open until something changes, its time is up, or its client leaves."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import Request

from calchub.server.services.wakeups import wait

Parked = Literal["woken", "timeout", "gone"]


async def park(event: asyncio.Event, request: Request, timeout: float) -> Parked:
    """Wait for ``event``; a client that hung up ends the wait at once.

    Without this, a request whose client is gone would run on until its timeout (and hold
    the server's shutdown that long). Only for requests whose body has been read, so that
    the next message can only be a disconnect.
    """
    woken = asyncio.ensure_future(wait(event, timeout))
    hung_up = asyncio.ensure_future(request.receive())
    done, _ = await asyncio.wait({woken, hung_up}, return_when=asyncio.FIRST_COMPLETED)
    for task in (woken, hung_up):
        task.cancel()
    if hung_up in done:
        return "gone"
    return "woken" if woken.result() else "timeout"
