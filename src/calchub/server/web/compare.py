"""Compare: calculations side by side, their results in one table and their figures overlaid."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
