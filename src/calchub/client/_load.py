"""The client's calls about clusters' load over time (heartbeat samples)."""

from __future__ import annotations

from calchub.client._base import BaseClient


class LoadMixin(BaseClient):
    pass
