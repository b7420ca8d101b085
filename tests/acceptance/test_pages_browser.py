"""The pages in a real browser (Debian's Chromium), against a real server and agent.

Each test leaves a screenshot in ``test-artifacts/screenshots/``; docs/web.md shows some of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.acceptance.conftest import BROWSER_PASSWORD, BrowserLog, Site, labelled, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow


def test_sign_in_submit_from_the_form_and_watch_it_finish_live(
    running: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    admin = running.client()
    admin.create_user("alice", password=BROWSER_PASSWORD)
    page = browser_page
    sign_in(page, running, "alice", "/calculations")
    labelled(page)
    page.get_by_role("link", name="New calculation").click()
    page.get_by_label("Calculation type").select_option("shell")
    page.get_by_role("button", name="Choose").click()
    page.wait_for_url(re.compile(r"type=shell"))
    labelled(page)
    page.get_by_label("script (required)").fill("echo first-line; sleep 3; echo second-line")
    page.get_by_label("Name", exact=True).fill("from the browser")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/calculations/\d+$"))
    badge = page.locator("#live-state .state")
    assert badge.inner_text() in {"queued", "claimed", "running"}, "the page opened before the run ended"
    # No reload from here on: the state and the log arrive over server-sent events.
    page.wait_for_function(
        "document.querySelector('#live-state .state').textContent === 'completed'", timeout=30_000
    )
    page.wait_for_function("document.querySelector('#log').textContent.includes('second-line')")
    assert "first-line" in page.locator("#log").inner_text()
    assert not browser_log.errors and not browser_log.offsite


def test_the_dashboard_and_the_list_in_the_browser(running: Site, browser_page: Page) -> None:
    admin = running.client()
    admin.create_user("alice", password=BROWSER_PASSWORD)
    for n in range(3):
        admin.submit(["true"], name=f"admin-{n}")
    page = browser_page
    sign_in(page, running, "alice")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.get_by_role("link", name="local", exact=True).is_visible(), "the cluster's card"
    page.get_by_role("link", name="Calculations", exact=True).click()
    assert page.get_by_text("No calculations match.").is_visible(), "alice sees none of the admin's"
    labelled(page)


def test_another_projects_calculation_is_not_found_and_a_moderator_approves_from_the_page(
    running: Site, browser_page: Page
) -> None:
    admin = running.client()
    admin.create_project("reviewed", requires_approval=True)
    admin.create_user("alice", password=BROWSER_PASSWORD, projects=["reviewed"])
    admin.create_user("eve", password=BROWSER_PASSWORD)
    admin.create_user("mo", password=BROWSER_PASSWORD, role="moderator")
    alice = running.client()
    alice_token = alice.login("alice", BROWSER_PASSWORD)
    assert alice_token.token
    waiting = alice.submit(["true"], project="reviewed", name="needs a look")
    page = browser_page
    sign_in(page, running, "eve", f"/calculations/{waiting.id}")
    assert page.get_by_role("heading", name="Not found").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    sign_in(page, running, "mo", f"/calculations/{waiting.id}")
    assert page.locator("#live-state .state").inner_text() == "pending approval"
    labelled(page)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_function("document.querySelector('#live-state .state').textContent !== 'pending approval'")
    assert alice.get(waiting.id).state != "pending_approval"


def test_every_action_is_reachable_by_keyboard(running: Site, browser_page: Page) -> None:
    admin = running.client()
    admin.create_user("alice", password=BROWSER_PASSWORD)
    page = browser_page
    page.goto(f"{running.url}/login")
    assert page.evaluate("document.activeElement.id") == "username", "the form starts in its first field"
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(BROWSER_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(re.escape(running.url) + "/$"))
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.textContent.trim()"))
    assert {"Dashboard", "Calculations", "New calculation", "Sign out"} <= reached
