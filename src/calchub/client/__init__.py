"""The Python client for calchub (sync, httpx). Works in scripts and Jupyter."""

from calchub.client._client import Client
from calchub.client.errors import (
    ApiError,
    BadRequest,
    CalchubError,
    Conflict,
    Forbidden,
    NotFound,
    ServerUnreachable,
    Throttled,
    TooLarge,
    Unauthorized,
    WaitTimeout,
)
from calchub.contracts.calculations import Calculation
from calchub.domain.states import State

__all__ = [
    "ApiError",
    "BadRequest",
    "CalchubError",
    "Calculation",
    "Client",
    "Conflict",
    "Forbidden",
    "NotFound",
    "ServerUnreachable",
    "State",
    "Throttled",
    "TooLarge",
    "Unauthorized",
    "WaitTimeout",
]
