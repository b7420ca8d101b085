"""Errors the use cases raise; the API turns each into one HTTP status.

ServiceError
 +-- NotFound        404  the thing named does not exist (or is not yours to see)
 +-- Unauthorized    401  no credentials, or wrong, expired or revoked ones
 +-- Forbidden       403  known caller, not allowed to do this
 +-- Conflict        409  the request clashes with the current state
 +-- Invalid         422  well-formed, but a value is wrong
 |    +-- InvalidInputs   inputs that break their type's rules (each field and rule named)
 +-- TooLarge        413  the body or file is over the limit
 +-- Throttled       429  too many failed sign-ins (services.sessions)
 +-- Unavailable     503  a model that is not healthy, or does not answer (Retry-After)
 +-- BadGateway      502  a model that answered with an error of its own

An error raised with ``keep_changes=True`` still commits what its transaction
wrote (a failed sign-in is counted although the request fails).
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str, field: str | None = None, *, keep_changes: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.keep_changes = keep_changes


class NotFound(ServiceError):
    status = 404


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


class TooLarge(ServiceError):
    status = 413


class Unavailable(ServiceError):
    status = 503

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadGateway(ServiceError):
    status = 502


class InvalidInputs(Invalid):
    """Every problem found with a typed submission, as (field, rule, message)."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        text = "; ".join(f"{field}: {message} (rule: {rule})" for field, rule, message in problems)
        super().__init__(text, problems[0][0])
        self.rule = problems[0][1]
        self.problems = problems
