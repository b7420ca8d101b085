"""The Logs page in a real browser, against a real server and agent: entries appear live.

Leaves ``test-artifacts/screenshots/logs.png`` (docs/images/logs.png is a copy).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.acceptance.conftest import SCREENSHOTS, BrowserLog, Site

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow
PASSWORD = "browser password"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`)) && !e.closest('label'))
  .map(e => e.name || e.outerHTML)"""


def test_new_entries_appear_at_the_top_without_a_reload(
    running: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    from playwright.sync_api import expect

    admin = running.client()
    admin.create_project("optics")
    admin.create_user("alice", password=PASSWORD, projects=["optics"])
    page = browser_page
    page.goto(f"{running.url}/logs")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(f"{running.url}/logs") + "$"))
    expect(page.locator("#log-rows")).to_contain_text("agent.connected")  # the agent of `calchub up`
    assert page.evaluate(UNLABELLED) == []
    page.evaluate("window.stillHere = true")  # gone if the page reloads
    page.wait_for_function("document.querySelector('#log-feed').getAttribute('sse-connect') !== null")

    admin.register_cluster("hpc", description="the big one")
    newest = page.locator("#log-rows tr.log-entry").first
    expect(newest).to_contain_text("cluster hpc registered (local) by admin")
    alice = running.client()
    alice.login("alice", PASSWORD)
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
    shutil.copyfile(SCREENSHOTS / "logs.png", DOCS_IMAGES / "logs.png")
    assert not browser_log.errors and not browser_log.offsite
