"""The log feed: agent and service events as they happen, filterable; admins delete old entries."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
