"""The calculations list in a real browser (Debian's Chromium) against a real server: selecting
rows and cancelling them in bulk, starring one, filtering by type.

The test leaves its screenshot in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.acceptance.conftest import BROWSER_PASSWORD, BrowserLog, Site, labelled, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow


def test_select_two_cancel_them_in_bulk_star_one_and_filter_by_type(
    local_site: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    from playwright.sync_api import expect

    site = local_site
    site.start_server()  # no agent: what is submitted stays queued until the page cancels it
    site.client().create_user("alice", password=BROWSER_PASSWORD)
    alice = site.client()
    alice.login("alice", BROWSER_PASSWORD)  # from here on, the client is alice
    first, second, kept = (alice.submit(["true"], name=name).id for name in ("first", "second", "kept"))
    typed = alice.submit(type="shell", inputs={"script": "true"}, name="typed").id
    page = browser_page
    sign_in(page, site, "alice", "/calculations")
    labelled(page)

    kind = page.get_by_label("Type", exact=True)
    kind.select_option("shell")  # the table follows, and so does the address
    page.wait_for_url(re.compile(r"[?&]type=shell(&|$)"))
    expect(page.locator("table.calcs tbody tr")).to_have_count(1)
    expect(page.locator(f"#calc-{typed}")).to_be_visible()
    kind.select_option("")
    page.wait_for_url(re.compile(r"[?&]type=(&|$)"))
    expect(page.locator("table.calcs tbody tr")).to_have_count(4)

    every = page.get_by_label("Select all on this page")
    every.check()
    for calc_id in (first, second, kept, typed):
        expect(page.get_by_label(f"Select {calc_id}", exact=True)).to_be_checked()
    every.uncheck()
    expect(page.locator("#bulk-count")).to_have_text("")
    page.get_by_label(f"Select {first}", exact=True).focus()
    page.keyboard.press("Space")  # by keyboard
    page.get_by_label(f"Select {second}", exact=True).click()  # and by mouse
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    expect(every).to_have_js_property("indeterminate", True)

    page.get_by_role("button", name="Cancel selected").click()
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^\s*cancelled 2\s*$"))
    for calc_id in (first, second):
        expect(page.locator(f"#calc-{calc_id} .state")).to_have_text("cancelled")
    expect(page.locator(f"#calc-{kept} .state")).to_have_text("queued")
    assert "/calculations/bulk" not in page.url, "a bulk action does not change the address"
    assert {alice.get(i).state.value for i in (first, second)} == {"cancelled"}

    page.get_by_role("button", name=f"Add {kept} to favorites").click()
    expect(page.get_by_role("button", name=f"Remove {kept} from favorites")).to_be_focused()
    assert alice.get(kept).favorite
    labelled(page)

    # Delete asks first: dismissed, nothing goes; accepted, the two cancelled runs go.
    for calc_id in (first, second):
        page.get_by_label(f"Select {calc_id}", exact=True).check()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete selected").click()
    assert {alice.get(i).state.value for i in (first, second)} == {"cancelled"}
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete selected").click()
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^\s*deleted 2\s*$"))
    expect(page.locator("table.calcs tbody tr")).to_have_count(2)

    page.get_by_label(f"Select {kept}", exact=True).check()
    page.get_by_label(f"Select {typed}", exact=True).check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(re.compile(r"/compare\?ids="))
    expect(page.get_by_role("heading", name="Compare calculations")).to_be_visible()
    expect(page.get_by_role("link", name=f"#{kept} kept")).to_be_visible()
    expect(page.get_by_role("link", name=f"#{typed} typed")).to_be_visible()
    assert not browser_log.errors and not browser_log.offsite
