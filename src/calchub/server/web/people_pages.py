"""Users, projects and the viewer's own settings (password and tokens), as each role may see them."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
