"""The settings, users and projects pages over real HTTP: what each role sees and may do.

Every button a page leaves out is also refused when its POST is forged (403, or 404 for a
project the viewer does not belong to) and changes nothing; bad input is said by its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from calchub.client import Client, Forbidden, NotFound, Unauthorized
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD

PASSWORD = PAGE_PASSWORD
HTMX = {"HX-Request": "true"}
Browser = Callable[..., httpx.Client]


@pytest.fixture
def people(make_user: Callable[..., Client], client: Client) -> dict[str, Client]:
    """alice manages optics, bob is a member of it; eve belongs to no group; mo and max moderate;
    ada is an admin who signs in (the bootstrap admin is ``client``)."""
    client.create_project("optics", description="lenses and mirrors")
    found = {name: make_user(name, password=PASSWORD) for name in ("alice", "bob", "eve")}
    found |= {name: make_user(name, password=PASSWORD, role="moderator") for name in ("mo", "max")}
    client.add_member("optics", "alice", "manager")
    client.add_member("optics", "bob")
    client.update_user("admin", email="admin@lab.org")
    found["ada"] = make_user("ada", password=PASSWORD, role="admin")
    return found


def _error(page: str, field_id: str) -> str:
    """The message shown next to the field ``field_id`` (empty when there is none)."""
    found = re.search(rf'<p class="error" id="{re.escape(field_id)}-error" role="alert">([^<]*)</p>', page)
    return found.group(1) if found else ""


# -- /settings --------------------------------------------------------------------------------


def test_settings_show_the_account_and_change_the_password_with_each_problem_by_its_field(
    browser: Browser, people: dict[str, Client], server: ServerThread
) -> None:
    alice, elsewhere = browser("alice"), browser("alice")
    page = alice.get("/settings").text
    assert "<dd>alice</dd>" in page and "<dd>user</dd>" in page
    assert 'href="/projects/optics">optics</a> <small>(manager)</small>' in page
    assert 'href="/users"' not in page, "no Users link for a user"
    for field in ("current", "password", "repeat"):
        assert f'<label for="{field}">' in page

    def change(current: str, new: str, repeat: str) -> httpx.Response:
        return alice.post("/settings/password", data={"current": current, "password": new, "repeat": repeat})

    wrong = change("not it", "a new password", "a new password")
    assert wrong.status_code == 401 and _error(wrong.text, "current") == "the current password is wrong"
    short = change(PASSWORD, "short", "short")
    assert short.status_code == 422 and "at least 8 characters" in _error(short.text, "password")
    differ = change(PASSWORD, "a new password", "another one")
    assert differ.status_code == 422 and _error(differ.text, "repeat") == "the two new passwords differ"
    assert people["alice"].sign_in("alice", PASSWORD), "nothing changed so far"

    done = change(PASSWORD, "a new password", "a new password")
    assert (done.status_code, done.headers["location"]) == (303, "/settings?done=password")
    assert "Your password is changed" in alice.get("/settings?done=password").text, (
        "this browser stays signed in"
    )
    assert elsewhere.get("/settings").status_code == 303, "the other session ended"
    with pytest.raises(Unauthorized):
        people["alice"].sign_in("alice", PASSWORD)
    assert people["alice"].sign_in("alice", "a new password")


def test_a_token_is_shown_once_works_with_its_scope_and_is_revoked_from_the_page(
    browser: Browser, people: dict[str, Client], server: ServerThread
) -> None:
    alice = browser("alice")
    made = alice.post("/settings/tokens", data={"name": "notebook", "read_only": "on", "days": "7"})
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store", "kept by no cache"
    secret = re.search(r'id="new-token" value="(chu_[^"]+)"', made.text)
    assert secret and 'id="copy-token"' in made.text and "it is not shown again" in made.text
    with Client(server.url, secret.group(1)) as token:
        assert token.me().username == "alice" and token.me().scope == "read"
        with pytest.raises(Forbidden, match="read-only"):
            token.submit(["true"])
    again = alice.get("/settings").text
    assert secret.group(1) not in again and "notebook" in again and "read-only" in again
    (record,) = [t for t in people["alice"].tokens() if t.name == "notebook"]

    revoked = alice.post(f"/settings/tokens/{record.id}/revoke", headers=HTMX)
    assert revoked.status_code == 200 and "<html" not in revoked.text and 'id="tokens"' in revoked.text
    assert "revoked" in revoked.text and f"/settings/tokens/{record.id}/revoke" not in revoked.text
    with Client(server.url, secret.group(1)) as token, pytest.raises(Unauthorized):
        token.me()


def test_token_form_problems_are_said_by_their_field_and_nothing_is_made(
    browser: Browser, people: dict[str, Client]
) -> None:
    alice = browser("alice")
    before = len(people["alice"].tokens())
    for form, field, message in (
        ({"name": "x", "days": "0"}, "token-days", "greater than or equal to 1"),
        ({"name": "x", "days": "soon"}, "token-days", "valid integer"),
        ({"name": " ", "days": ""}, "token-name", "at least 1 character"),
    ):
        refused = alice.post("/settings/tokens", data=form, headers=HTMX)
        assert refused.status_code == 422 and "<html" not in refused.text, form
        assert message in _error(refused.text, field), form
    assert len(people["alice"].tokens()) == before


def test_another_users_token_cannot_be_revoked_and_sign_out_everywhere_ends_only_sessions(
    browser: Browser, people: dict[str, Client], server: ServerThread
) -> None:
    bobs = people["bob"].create_token("bob's")
    alice, other = browser("alice"), browser("alice")
    assert alice.post(f"/settings/tokens/{bobs.id}/revoke").status_code == 404
    with Client(server.url, bobs.token) as bob:
        assert bob.me().username == "bob", "bob's token still works"
    out = alice.post("/settings/sessions/revoke")
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    for session in (alice, other):
        assert session.get("/settings").headers["location"].startswith("/login")
    assert people["alice"].me().username == "alice", "API tokens keep working"


# -- /users -----------------------------------------------------------------------------------


def test_the_users_page_shows_each_role_only_its_buttons(browser: Browser, people: dict[str, Client]) -> None:
    alice = browser("alice")
    assert alice.get("/users").status_code == 403
    mo = browser("mo").get("/users").text
    assert '<a href="/users" aria-current="page">Users</a>' in mo
    assert 'aria-label="Block alice"' in mo and 'for="u-alice-password"' in mo
    assert 'aria-label="Block admin"' not in mo and 'aria-label="Block max"' not in mo, "only users"
    assert 'aria-label="Block mo"' not in mo, "not yourself"
    assert "Change role" not in mo and "Delete" not in mo and "New user" not in mo
    admin = browser("ada").get("/users").text
    for name in ("alice", "mo", "admin"):
        assert f'aria-label="Block {name}"' in admin and f'aria-label="Change the role of {name}"' in admin
    assert 'aria-label="Block ada"' not in admin and "New user" in admin
    assert '<label for="new-username">' in admin


def test_users_are_searched_by_name_role_and_state_and_htmx_gets_the_table(
    browser: Browser, people: dict[str, Client], client: Client
) -> None:
    client.block_user("eve")
    mo = browser("mo")
    found = mo.get("/users?q=ADMIN@lab").text
    assert '<th scope="row">admin' in found and 'id="u-alice"' not in found, "email matches, any case"
    table = mo.get("/users?role=moderator", headers=HTMX).text
    assert (
        "<html" not in table and 'id="u-mo"' in table and 'id="u-max"' in table and 'id="u-bob"' not in table
    )
    blocked = mo.get("/users?state=blocked").text
    assert 'id="u-eve"' in blocked and 'id="u-bob"' not in blocked and 'aria-label="Unblock eve"' in blocked


def test_forged_user_posts_by_a_lesser_role_are_refused_and_change_nothing(
    browser: Browser, people: dict[str, Client], client: Client
) -> None:
    alice, mo = browser("alice"), browser("mo")
    for who, path, form in (
        (alice, "/users/bob/block", {}),
        (alice, "/users/bob/password", {"password": "taken over"}),
        (alice, "/users", {"username": "sneaky", "password": PASSWORD}),
        (mo, "/users/admin/block", {}),
        (mo, "/users/max/password", {"password": "taken over"}),
        (mo, "/users/alice/role", {"role": "admin"}),
        (mo, "/users/alice/delete", {}),
        (mo, "/users", {"username": "sneaky", "password": PASSWORD}),
    ):
        assert who.post(path, data=form).status_code == 403, path
    users = {u.username: u for u in client.users()}
    assert "sneaky" not in users and not users["bob"].blocked and not users["admin"].blocked
    assert users["alice"].role == "user" and "alice" in users
    assert people["max"].sign_in("max", PASSWORD), "max's password is unchanged"


def test_moderators_block_and_reset_and_admins_change_roles_create_and_delete(
    browser: Browser, people: dict[str, Client], client: Client
) -> None:
    mo = browser("mo")
    assert mo.post("/users/alice/block").status_code == 303
    assert client.user("alice").blocked
    assert mo.post("/users/alice/unblock").status_code == 303 and not client.user("alice").blocked
    short = mo.post("/users/bob/password", data={"password": "short"})
    assert short.status_code == 422 and "at least 8" in _error(short.text, "u-bob-password")
    assert mo.post("/users/bob/password", data={"password": "bob's new one"}).status_code == 303
    assert people["bob"].sign_in("bob", "bob's new one")

    admin = browser("ada")
    assert admin.post("/users/alice/role", data={"role": "moderator"}).status_code == 303
    assert client.user("alice").role == "moderator"
    bad = admin.post("/users", data={"username": "no spaces", "email": "x", "password": "short"})
    assert bad.status_code == 422
    assert "should match pattern" in _error(bad.text, "new-username")
    assert _error(bad.text, "new-email") and "at least 8" in _error(bad.text, "new-password")
    assert 'value="no spaces"' in bad.text, "what was typed stays"
    twice = admin.post("/users", data={"username": "bob", "role": "user"})
    assert twice.status_code == 409 and "exists already" in _error(twice.text, "new-username")
    made = admin.post("/users", data={"username": "carol", "email": "c@lab.org", "role": "moderator"})
    assert made.status_code == 303 and client.user("carol").role == "moderator"
    people["bob"].submit(["true"])
    owns = admin.post("/users/bob/delete")
    assert owns.status_code == 409 and "owns 1 calculations" in _error(owns.text, "u-bob")
    assert admin.post("/users/carol/delete").status_code == 303
    with pytest.raises(NotFound):
        client.user("carol")


# -- /projects --------------------------------------------------------------------------------


def test_the_projects_page_lists_the_viewers_projects_with_usage_and_links(
    browser: Browser, people: dict[str, Client], client: Client
) -> None:
    client.update_project("optics", quotas={"max_queued": 4, "core_hours": 10})
    people["bob"].submit(["true"], project="optics")
    page = browser("bob").get("/projects").text
    assert 'href="/projects/optics"' in page and 'href="/projects/~bob"' in page
    assert "~alice" not in page, "another's personal project"
    assert 'href="/calculations?project=optics"' in page
    assert '<meter id="p' in page and ">1 of 4</span>" in page and ">0 of 10</span>" in page
    assert "New project" not in page
    every = browser("mo").get("/projects").text
    assert "~alice" in every and "~eve" in every, "a moderator sees every project"
    assert (
        "New project" not in every and browser("mo").post("/projects", data={"name": "x"}).status_code == 403
    )
    assert "x" not in {p.name for p in client.projects()}


def test_admins_create_projects_with_problems_by_their_field(
    browser: Browser, people: dict[str, Client], client: Client
) -> None:
    admin = browser("ada")
    assert '<label for="new-name">' in admin.get("/projects").text
    bad = admin.post("/projects", data={"name": "-bad", "priority_min": "5", "priority_max": "1"})
    assert bad.status_code == 422 and "should match pattern" in _error(bad.text, "new-name")
    ordered = admin.post("/projects", data={"name": "good", "priority_min": "5", "priority_max": "1"})
    assert "must not be above" in _error(ordered.text, "new-priority-min")
    nobody = admin.post("/projects", data={"name": "good", "manager": "nobody"})
    assert nobody.status_code == 404 and "no user named" in _error(nobody.text, "new-manager")
    taken = admin.post("/projects", data={"name": "optics"})
    assert taken.status_code == 409 and "exists already" in _error(taken.text, "new-name")
    assert "good" not in {p.name for p in client.projects()}, "nothing half-made"
    made = admin.post("/projects", data={"name": "good", "requires_approval": "on", "manager": "eve"})
    assert (made.status_code, made.headers["location"]) == (303, "/projects/good")
    assert client.project("good").requires_approval
    assert [(m.username, m.role) for m in client.members("good")] == [("eve", "manager")]


def test_a_project_page_shows_members_and_only_managers_get_member_buttons(
    browser: Browser, people: dict[str, Client]
) -> None:
    assert browser("eve").get("/projects/optics").status_code == 404, "not a member: not found"
    bobs = browser("bob").get("/projects/optics").text
    assert "lenses and mirrors" in bobs and '<th scope="row">alice</th>' in bobs
    assert "Add member" not in bobs and "Remove" not in bobs and "Save settings" not in bobs
    assert 'href="/calculations?project=optics"' in bobs
    alices = browser("alice").get("/projects/optics").text
    assert "Add member" in alices and 'aria-label="Remove bob from optics"' in alices
    assert "Save settings" not in alices, "settings are for admins"
    mos = browser("mo").get("/projects/optics").text
    assert "Add member" not in mos, "a moderator sees every project but manages none"
    personal = browser("alice").get("/projects/~alice").text
    assert "Add member" not in personal and "takes no members" in personal


def test_a_manager_adds_re_roles_and_removes_members_with_htmx_fragments(
    browser: Browser, people: dict[str, Client], client: Client
) -> None:
    alice = browser("alice")
    added = alice.post("/projects/optics/members", data={"username": "eve", "role": "member"}, headers=HTMX)
    assert added.status_code == 200 and "<html" not in added.text and '<th scope="row">eve</th>' in added.text
    unknown = alice.post("/projects/optics/members", data={"username": "nobody"}, headers=HTMX)
    assert unknown.status_code == 404 and "no user named" in _error(unknown.text, "member-username")
    assert 'value="nobody"' in unknown.text
    assert alice.post("/projects/optics/members/eve/role", data={"role": "manager"}).status_code == 303
    assert ("eve", "manager") in [(m.username, m.role) for m in client.members("optics")]
    assert alice.post("/projects/optics/members/eve/remove").status_code == 303
    assert "eve" not in [m.username for m in client.members("optics")]
    assert people["eve"].projects() == [p for p in people["eve"].projects() if p.name == "~eve"]


def test_forged_project_posts_are_refused_and_change_nothing(
    browser: Browser, people: dict[str, Client], client: Client
) -> None:
    bob, eve, mo = browser("bob"), browser("eve"), browser("mo")
    for who, path, form, status in (
        (bob, "/projects/optics/members", {"username": "eve"}, 403),
        (bob, "/projects/optics/members/alice/role", {"role": "member"}, 403),
        (bob, "/projects/optics/members/alice/remove", {}, 403),
        (eve, "/projects/optics/members", {"username": "eve"}, 404),
        (mo, "/projects/optics/members", {"username": "eve"}, 403),
        (bob, "/projects/optics/settings", {"max_running": "0"}, 403),
        (mo, "/projects/optics/settings", {"max_running": "0"}, 403),
        (bob, "/projects", {"name": "mine"}, 403),
    ):
        assert who.post(path, data=form, headers=HTMX).status_code == status, (path, form)
    assert [(m.username, m.role) for m in client.members("optics")] == [
        ("alice", "manager"),
        ("bob", "member"),
    ]
    assert client.project("optics").quotas.max_running is None
    assert "mine" not in {p.name for p in client.projects()}


def test_admins_change_a_projects_settings_and_bad_values_are_said_by_their_field(
    browser: Browser, people: dict[str, Client], client: Client
) -> None:
    admin = browser("ada")
    page = admin.get("/projects/optics").text
    for field in ("set-description", "set-approval", "set-priority-min", "set-max-running", "set-core-hours"):
        assert f'<label for="{field}">' in page, field
    form = {"description": "lenses", "priority_min": "-5", "priority_max": "5", "quota_days": "30"}
    bad = admin.post("/projects/optics/settings", data=form | {"max_running": "-1", "core_hours": "lots"})
    assert bad.status_code == 422
    assert "greater than or equal to 0" in _error(bad.text, "set-max-running")
    assert "valid number" in _error(bad.text, "set-core-hours")
    assert 'value="lots"' in bad.text, "what was typed stays"
    upside = admin.post("/projects/optics/settings", data=form | {"priority_min": "9"})
    assert upside.status_code == 422 and "must not be above" in _error(upside.text, "set-priority-min")
    assert client.project("optics").description == "lenses and mirrors", "nothing half-written"
    saved = admin.post(
        "/projects/optics/settings",
        data=form | {"requires_approval": "on", "max_running": "2", "core_hours": "50"},
    )
    assert saved.status_code == 303
    project = client.project("optics")
    assert (project.description, project.requires_approval) == ("lenses", True)
    assert (project.priority_min, project.priority_max) == (-5, 5)
    assert (project.quotas.max_running, project.quotas.core_hours, project.quotas.max_queued) == (2, 50, None)
    shown = admin.get("/projects/optics").text
    assert ">0 of 50</span>" in shown and ">0 of 2</span>" in shown and "(no limit)" in shown


def test_a_manager_adds_a_webhook_sees_its_secret_once_and_removes_it_members_only_list(
    browser: Browser, people: dict[str, Client], client: Client
) -> None:
    alice, bob = browser("alice"), browser("bob")
    page = alice.get("/projects/optics").text
    assert "Add a webhook" in page and '<label for="webhook-url">' in page and "No webhooks." in page
    bad = alice.post("/projects/optics/webhooks", data={"url": "ftp://chat.example.org/x", "level": "error"})
    assert bad.status_code == 422 and "must start with https://" in _error(bad.text, "webhook-url")
    assert 'value="ftp://chat.example.org/x"' in bad.text, "what was typed stays"
    assert client.webhooks("optics") == [], "nothing added"

    url = "https://chat.example.org/hooks/calchub"
    made = alice.post("/projects/optics/webhooks", data={"url": url, "level": "error"})
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-webhook-secret" value="([^"]+)"', made.text)
    assert secret and "it is not shown again" in made.text and "<h1>optics</h1>" in made.text
    (hook,) = client.webhooks("optics")
    assert (hook.url, hook.level) == (url, "error")
    again = alice.get("/projects/optics").text
    assert secret.group(1) not in again and f"<code>{url}</code>" in again

    bobs = bob.get("/projects/optics").text
    assert f"<code>{url}</code>" in bobs and "<td>error</td>" in bobs
    assert "Add a webhook" not in bobs and "Remove" not in bobs and secret.group(1) not in bobs
    for path in ("/projects/optics/webhooks", f"/projects/optics/webhooks/{hook.id}/remove"):
        assert bob.post(path, data={"url": url}).status_code == 403, path
    assert len(client.webhooks("optics")) == 1, "bob changed nothing"

    assert f'aria-label="Remove the webhook to {url}"' in again
    gone = alice.post(f"/projects/optics/webhooks/{hook.id}/remove")
    assert (gone.status_code, gone.headers["location"]) == (303, "/projects/optics")
    assert client.webhooks("optics") == []
    stale = alice.post(f"/projects/optics/webhooks/{hook.id}/remove", headers=HTMX)
    assert stale.status_code == 404 and "<html" not in stale.text and "has no webhook" in stale.text
