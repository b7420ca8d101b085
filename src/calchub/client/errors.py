"""Errors the client raises, one per kind of answer.

CalchubError
 +-- ServerUnreachable   no answer from the server at all
 +-- WaitTimeout         wait() ran out of time before the work finished
 +-- ApiError            the server answered with an error status
      +-- BadRequest 400/422, Unauthorized 401, Forbidden 403, NotFound 404,
          Conflict 409, TooLarge 413, Throttled 429 (``retry_after`` seconds)
"""

from __future__ import annotations

from typing import Any

import httpx


class CalchubError(Exception):
    """Anything calchub's client can raise."""


class ServerUnreachable(CalchubError):
    pass


class WaitTimeout(CalchubError):
    def __init__(self, message: str, pending: list[int]) -> None:
        super().__init__(message)
        self.pending = pending


class ApiError(CalchubError):
    def __init__(self, status: int, message: str, field: str | None = None, rule: str | None = None) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.field = field
        #: The rule a typed input broke ("minimum", "enum", "required", ...), when the server says.
        self.rule = rule


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class TooLarge(ApiError):
    pass


class Throttled(ApiError):
    """Too many failed sign-ins: the server hears the next one after ``retry_after`` seconds."""

    retry_after: int | None = None


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: BadRequest,
    429: Throttled,
}


def raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    message, field = _explain(response)
    rule = _rule(response)
    error = _BY_STATUS.get(response.status_code, ApiError)(response.status_code, message, field, rule)
    if isinstance(error, Throttled) and response.headers.get("retry-after", "").isdigit():
        error.retry_after = int(response.headers["retry-after"])
    raise error


def _rule(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    rule = body.get("rule") if isinstance(body, dict) else None
    return str(rule) if rule is not None else None


def _explain(response: httpx.Response) -> tuple[str, str | None]:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase, None
    if not isinstance(body, dict):
        return response.text.strip(), None
    # calchub says "detail"; a model behind the inference proxy may say "error" or anything.
    detail = body["detail"] if "detail" in body else body.get("error", response.text.strip())
    if isinstance(detail, list):  # FastAPI's validation errors: name every field.
        parts = [f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail]
        first = detail[0].get("loc", [])[1:] if detail else []
        return "; ".join(parts), ".".join(str(p) for p in first) or None
    return str(detail), body.get("field")
