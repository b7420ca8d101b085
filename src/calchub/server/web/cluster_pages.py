"""Clusters: register one, its agent command, keys, enable or disable, partitions and load over time."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
