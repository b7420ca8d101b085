"""Each user's notification settings: their address and level, through the API, the client and
the settings page; bad values are refused by their field and change nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from calchub.client import Client, Forbidden, Unauthorized
from calchub.contracts.users import NotifyLevel
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD


@pytest.fixture
def alice(make_user: Callable[..., Client]) -> Client:
    return make_user("alice", password=PAGE_PASSWORD)


def test_a_user_chooses_their_address_and_level_through_the_client(
    alice: Client, client: Client, server: ServerThread
) -> None:
    assert alice.me().notify is NotifyLevel.ERROR, "failures only, until they choose"
    assert alice.me().email is None

    changed = alice.update_me(email="alice@lab.org", notify="info")
    assert (changed.email, changed.notify) == ("alice@lab.org", NotifyLevel.INFO)
    assert alice.update_me(notify=NotifyLevel.NONE).email == "alice@lab.org", "what is left out stays"
    assert client.user("alice").email == "alice@lab.org", "admins see the same address"
    cleared = alice.update_me(clear_email=True)
    assert (cleared.email, cleared.notify) == (None, NotifyLevel.NONE)
    assert client.me().notify is NotifyLevel.ERROR, "another user's settings are their own"


def test_bad_settings_are_refused_by_their_field_and_change_nothing(
    alice: Client, server: ServerThread
) -> None:
    alice.update_me(email="alice@lab.org", notify="info")
    with pytest.raises(ValidationError, match="email"):
        alice.update_me(email="not an address")  # the client checks before it sends
    with pytest.raises(ValueError, match="'loud' is not a valid NotifyLevel"):
        alice.update_me(notify="loud")
    token = alice.create_token("raw").token
    for body in ({"notify": "loud"}, {"email": "a@b", "extra": 1}, {"email": "x" * 400 + "@lab.org"}):
        answer = httpx.patch(
            f"{server.url}/api/v1/me", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 422, body
    me = alice.me()
    assert (me.email, me.notify) == ("alice@lab.org", NotifyLevel.INFO)


def test_only_a_full_credential_of_the_user_changes_them(alice: Client, server: ServerThread) -> None:
    read_only = alice.create_token("look", scope="read").token
    with Client(server.url, read_only) as looking, pytest.raises(Forbidden, match="read-only"):
        looking.update_me(notify="none")
    with Client(server.url, None) as nobody, pytest.raises(Unauthorized):
        nobody.update_me(notify="none")
    assert alice.me().notify is NotifyLevel.ERROR


def _checked(page: str) -> str:
    found = re.search(r'<input type="radio" id="notify-(\w+)" name="notify" value="\w+" checked', page)
    assert found, "one level is chosen"
    return found.group(1)


def test_the_settings_page_shows_and_saves_them(
    alice: Client, browser: Callable[..., httpx.Client], client: Client
) -> None:
    http = browser("alice")
    page = http.get("/settings").text
    assert '<label for="notify-email">Email address</label>' in page
    assert _checked(page) == "error"
    for level in ("info", "error", "none"):
        assert f'<label for="notify-{level}">' in page, "every choice has its label"

    saved = http.post("/settings/notifications", data={"email": "alice@lab.org", "notify": "info"})
    assert saved.status_code == 303 and saved.headers["location"] == "/settings?done=notifications"
    page = http.get(saved.headers["location"]).text
    assert "Your notification settings are saved." in page
    assert _checked(page) == "info" and 'value="alice@lab.org"' in page
    assert (alice.me().email, alice.me().notify) == ("alice@lab.org", NotifyLevel.INFO)

    refused = http.post("/settings/notifications", data={"email": "nowhere", "notify": "none"})
    assert refused.status_code == 422
    assert 'id="notify-email-error" role="alert"' in refused.text, "said next to the field"
    assert 'value="nowhere"' in refused.text, "what was typed stays in the form"
    assert http.post("/settings/notifications", data={"notify": "loud"}).status_code == 422
    assert (alice.me().email, alice.me().notify) == ("alice@lab.org", NotifyLevel.INFO), "nothing changed"

    assert http.post("/settings/notifications", data={"email": "", "notify": "none"}).status_code == 303
    assert (alice.me().email, alice.me().notify) == (None, NotifyLevel.NONE), "an empty address removes it"


def test_the_settings_form_sends_a_stranger_to_sign_in_and_changes_nothing(
    alice: Client, server: ServerThread
) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        answer = anonymous.post("/settings/notifications", data={"notify": "none"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert alice.me().notify is NotifyLevel.ERROR
