"""A project's webhooks: URLs that receive its notices as signed JSON.

The secret a webhook's bodies are signed with is given once, in the answer that creates it
(:class:`WebhookCreated`), and never shown again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from calchub.contracts.calculations import Strict

#: The most webhooks one project may have.
MAX_WEBHOOKS = 10
MAX_URL = 2000
_SCHEMES = frozenset({"http", "https"})


class WebhookLevel(StrEnum):
    """Which of a project's notices a webhook receives."""

    INFO = "info"  # every notice
    ERROR = "error"  # failed, invalid or lost calculations, and studies with failures


def checked_url(url: str) -> str:
    """``url`` if a webhook can be sent to it: http or https, a host, no user name or password.

    Raises ValueError saying what is wrong. Credentials belong in the signature (or the path),
    not in the URL, where they would be shown to every member who lists the webhooks.
    """
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        raise ValueError("a webhook URL may not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port out of range or not a number raises here)
    except ValueError as error:
        raise ValueError(f"not a URL: {error}") from error
    if parts.scheme.lower() not in _SCHEMES:
        raise ValueError("a webhook URL must start with https:// or http://")
    if "@" in parts.netloc:
        raise ValueError("a webhook URL may not carry a user name or password; the signature authenticates")
    if not parts.hostname:
        raise ValueError("a webhook URL must name a host")
    return url


class WebhookCreate(Strict):
    url: str = Field(max_length=MAX_URL, description="http:// or https://; receives a POST per notice")
    level: WebhookLevel = Field(
        WebhookLevel.INFO, description="info: every notice of the project; error: failures only"
    )

    @field_validator("url")
    @classmethod
    def _usable(cls, url: str) -> str:
        return checked_url(url)


class Webhook(BaseModel):
    id: int
    #: The project's name.
    project: str
    url: str
    level: WebhookLevel
    created_at: datetime


class WebhookCreated(Webhook):
    """A new webhook and its secret, which is shown only this once."""

    secret: str = Field(description="the key of the HMAC-SHA256 in X-Calchub-Signature-256; keep it")
