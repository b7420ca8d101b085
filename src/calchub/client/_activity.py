"""The client's calls about the log feed of agent and service events."""

from __future__ import annotations

from calchub.client._base import BaseClient


class ActivityMixin(BaseClient):
    pass
