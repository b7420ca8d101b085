"""/logs: the feed of agent and service events."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/logs", tags=["logs"])
