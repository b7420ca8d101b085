"""How the client turns an error answer into an exception (client.errors.raise_for)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from calchub.client import errors


def _response(status: int, body: Any = None, text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text)
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (413, errors.TooLarge),
        (422, errors.BadRequest),
        (500, errors.ApiError),
        (503, errors.ApiError),
    ],
)
def test_each_status_has_its_exception(status: int, kind: type[errors.ApiError]) -> None:
    with pytest.raises(kind) as raised:
        errors.raise_for(_response(status, {"detail": "what went wrong"}))
    assert type(raised.value) is kind
    assert raised.value.status == status
    assert raised.value.message == "what went wrong"
    assert f"(HTTP {status})" in str(raised.value)
    assert isinstance(raised.value, errors.CalchubError)


@pytest.mark.parametrize("status", [200, 201, 204])
def test_success_raises_nothing(status: int) -> None:
    errors.raise_for(httpx.Response(status))


def test_the_field_a_service_names_is_kept() -> None:
    body = {"detail": "no cluster named 'x'", "field": "cluster"}
    with pytest.raises(errors.NotFound) as raised:
        errors.raise_for(_response(404, body))
    assert raised.value.field == "cluster"


def test_fastapi_validation_errors_name_every_field() -> None:
    detail = [
        {"type": "too_short", "loc": ["body", "command"], "msg": "List should have at least 1 item"},
        {"type": "value_error", "loc": ["body", "resources", "memory"], "msg": "Value error, bad"},
    ]
    with pytest.raises(errors.BadRequest) as raised:
        errors.raise_for(_response(422, {"detail": detail}))
    assert raised.value.field == "command"
    assert "command: List should have at least 1 item" in raised.value.message
    assert "resources.memory: Value error, bad" in raised.value.message


def test_a_body_that_is_not_json_is_shown_as_text() -> None:
    with pytest.raises(errors.ApiError) as raised:
        errors.raise_for(_response(502, text="  bad gateway\n"))
    assert raised.value.message == "bad gateway"
    with pytest.raises(errors.TooLarge) as empty:
        errors.raise_for(_response(413, text=""))
    assert empty.value.message == "Request Entity Too Large"
