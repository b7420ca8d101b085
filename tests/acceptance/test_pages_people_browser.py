"""The settings, users and projects pages in a real browser (Debian's Chromium) against a real server.

Each test leaves screenshots in ``test-artifacts/screenshots/`` (``settings.png``, ``users.png``,
``projects.png``, ``project.png``); docs/web.md shows some of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.acceptance.conftest import BROWSER_PASSWORD, SCREENSHOTS, BrowserLog, Site, labelled, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)


def _me(site: Site, token: str) -> int:
    return httpx.get(f"{site.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_token_is_shown_once_copied_and_revoked_without_a_reload(
    local_site: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    site = local_site
    site.start_server()
    admin = site.client()
    admin.create_project("optics", description="lenses and mirrors")
    admin.create_user("alice", password=BROWSER_PASSWORD, email="alice@lab.org", projects=["optics"])
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    sign_in(page, site, "alice", "/settings")
    labelled(page)
    page.get_by_label("Name", exact=True).fill("notebook")
    page.get_by_label("Read-only").check()
    page.get_by_label("Expires after (days)").fill("0")
    page.get_by_role("button", name="Create token").click()
    page.locator("#token-days-error").wait_for()
    assert "greater than or equal to 1" in page.locator("#token-days-error").inner_text()
    assert page.get_by_label("Name", exact=True).input_value() == "notebook", "what was typed stays"
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").input_value(timeout=5000)
    assert secret.startswith("chu_") and _me(site, secret) == 200
    page.get_by_role("button", name="Copy").click()
    page.wait_for_function("document.getElementById('copy-token').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    _shot(page, "settings.png")

    page.reload()
    assert page.locator("#new-token").count() == 0, "the secret is shown once"
    page.get_by_role("button", name="Revoke notebook").click()
    page.get_by_text("The token is revoked").wait_for()
    assert page.get_by_role("button", name="Revoke notebook").count() == 0
    assert _me(site, secret) == 401
    assert not browser_log.errors and not browser_log.offsite


def test_a_manager_adds_a_member_by_keyboard_alone_and_an_admin_sees_every_user(
    local_site: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    site = local_site
    site.start_server()
    admin = site.client()
    admin.create_project(
        "optics", description="lenses and mirrors", quotas={"max_queued": 10, "core_hours": 500}
    )
    admin.create_user("alice", password=BROWSER_PASSWORD, projects=["optics"])
    admin.add_member("optics", "alice", "manager")
    admin.create_user("bob", password=BROWSER_PASSWORD, email="bob@lab.org")
    admin.create_user("mo", password=BROWSER_PASSWORD, role="moderator")
    admin.create_user("ada", password=BROWSER_PASSWORD, role="admin")
    admin.block_user("bob")
    admin.unblock_user("bob")
    alice = site.client()
    alice.login("alice", BROWSER_PASSWORD)
    for n in range(3):
        alice.submit(["true"], project="optics", name=f"run-{n}")
    page = browser_page
    sign_in(page, site, "alice", "/projects")
    labelled(page)
    _shot(page, "projects.png")
    page.get_by_role("link", name="optics", exact=True).click()
    page.wait_for_url(re.compile(r"/projects/optics$"))
    labelled(page)
    # Keyboard only, from the top of the page: Tab to the field, type, Tab to the button, Enter.
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "member-username":
            break
    else:
        pytest.fail("Tab never reached the username field of 'Add a member'")
    page.keyboard.type("bob")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "member-role"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Add member"
    page.keyboard.press("Enter")
    page.locator("#members th", has_text="bob").wait_for()
    assert ("bob", "member") in [(m.username, m.role) for m in admin.members("optics")]
    _shot(page, "project.png")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    sign_in(page, site, "ada", "/users")
    assert page.get_by_role("button", name="Block bob").is_visible()
    labelled(page)
    page.get_by_label("Search").fill("bo")
    page.wait_for_url(re.compile(r"/users\?q=bo"))
    assert page.locator("#users-table tbody tr").count() == 1
    page.get_by_label("Search").fill("")
    page.wait_for_function("document.querySelectorAll('#users-table tbody tr').length > 1")
    _shot(page, "users.png")
    assert not browser_log.errors and not browser_log.offsite
