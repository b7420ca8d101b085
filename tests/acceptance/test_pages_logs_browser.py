"""The Logs page in a real browser, against a real server and agent: entries appear live.

Leaves ``test-artifacts/screenshots/logs.png`` (docs/images/logs.png is made from it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.acceptance.conftest import BROWSER_PASSWORD, SCREENSHOTS, BrowserLog, Site, labelled, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow


def test_new_entries_appear_at_the_top_without_a_reload(
    running: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    from playwright.sync_api import expect

    admin = running.client()
    admin.create_project("optics")
    admin.create_user("alice", password=BROWSER_PASSWORD, projects=["optics"])
    page = browser_page
    sign_in(page, running, "alice", "/logs")
    expect(page.locator("#log-rows")).to_contain_text("agent.connected")  # the agent of `calchub up`
    labelled(page)
    page.evaluate("window.stillHere = true")  # gone if the page reloads
    page.wait_for_function("document.querySelector('#log-feed').getAttribute('sse-connect') !== null")

    admin.register_cluster("hpc", description="the big one")
    newest = page.locator("#log-rows tr.log-entry").first
    expect(newest).to_contain_text("cluster hpc registered (local) by admin")
    alice = running.client()
    alice.login("alice", BROWSER_PASSWORD)
    failing = alice.submit(["sh", "-c", "exit 3"], project="optics", name="doomed")
    expect(newest).to_contain_text(f"calculation {failing.id} failed")
    expect(newest.locator(".level")).to_have_text("error")
    expect(newest.get_by_role("link", name=str(failing.id))).to_have_attribute(
        "href", f"/calculations/{failing.id}"
    )
    assert page.evaluate("window.stillHere") is True, "no reload"

    page.get_by_label("Level (at least)").select_option("error")
    expect(page).to_have_url(re.compile(r"level=error"))
    expect(page.locator("#log-rows tr.log-entry")).to_have_count(1)
    page.get_by_label("Level (at least)").select_option("")
    expect(page.locator("#log-rows tr.log-entry").first).to_contain_text(f"calculation {failing.id} failed")
    page.screenshot(path=SCREENSHOTS / "logs.png", full_page=True)
    assert not browser_log.errors and not browser_log.offsite
