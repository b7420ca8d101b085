"""Turn service errors into JSON answers that say what to fix."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from calchub.domain.states import IllegalTransition
from calchub.server.services.errors import InvalidInputs, ServiceError, Unavailable
from calchub.server.services.sessions import Throttled


def install(app: FastAPI, page: Callable[[Request, ServiceError], Response] | None = None) -> None:
    """JSON errors for the API; ``page`` renders them for requests outside ``/api/``."""

    @app.exception_handler(ServiceError)
    async def _service(request: Request, error: ServiceError) -> Response:
        if page is not None and not request.url.path.startswith("/api/"):
            return page(request, error)
        body: dict[str, object] = {"detail": error.message}
        if error.field:
            body["field"] = error.field
        if isinstance(error, InvalidInputs):
            body["rule"] = error.rule
            body["problems"] = [{"field": f, "rule": r, "message": m} for f, r, m in error.problems]
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        if isinstance(error, Throttled | Unavailable):
            headers = {"Retry-After": str(error.retry_after)}
        return JSONResponse(body, status_code=error.status, headers=headers)

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, error: DataError) -> JSONResponse:
        # The database refused a value the checks let through (a NUL in a string on PostgreSQL,
        # a number out of range): the transaction was rolled back, nothing was written.
        reason = str(error.orig).splitlines()[0] if error.orig else "a value cannot be stored"
        return JSONResponse({"detail": f"a value in the request cannot be stored: {reason}"}, status_code=422)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, error: OverflowError) -> JSONResponse:
        return JSONResponse({"detail": f"a number in the request is too large: {error}"}, status_code=422)

    @app.exception_handler(IllegalTransition)
    async def _illegal(_: Request, error: IllegalTransition) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)
