"""The calculation page's buttons in a real browser: retry a failed run and watch its next attempt live.

Leaves ``test-artifacts/screenshots/`` of the page as the retried attempt ends.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.acceptance.conftest import BROWSER_PASSWORD, BrowserLog, Site, labelled, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow
BADGE = "document.querySelector('#live-state .state').textContent"
LOG = "document.querySelector('#log').textContent"


def _script(folder: Path) -> str:
    """Attempt 1 fails at once; attempt 2 says it started, waits for the test's ``go`` file, then fails."""
    first, go = shlex.quote(str(folder / "first-done")), shlex.quote(str(folder / "go"))
    return (
        f"if [ ! -e {first} ]; then touch {first}; echo first-attempt; exit 3; fi; "
        f"echo second-start; while [ ! -e {go} ]; do sleep 0.05; done; echo second-end; exit 5"
    )


def test_retry_a_failed_run_and_watch_its_next_attempt_live(
    running: Site, browser_page: Page, browser_log: BrowserLog, tmp_path: Path
) -> None:
    admin = running.client()
    admin.create_user("alice", password=BROWSER_PASSWORD)
    alice = running.client()
    alice.login("alice", BROWSER_PASSWORD)
    calc = alice.submit(["sh", "-c", _script(tmp_path)], name="flaky", max_attempts=1)
    assert alice.wait(calc.id, 30).state == "failed"
    page = browser_page
    sign_in(page, running, "alice", f"/calculations/{calc.id}")
    assert page.evaluate(BADGE) == "failed"
    assert "first-attempt" in page.locator("#log").inner_text()
    assert page.get_by_role("link", name="Run again as a copy").is_visible()
    assert page.get_by_text("Delete…").is_visible()
    labelled(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Retry").click()
    # From here on the page is not reloaded: the marker would be gone with a new document.
    page.evaluate("window.sameDocument = true")
    assert page.get_by_role("button", name="Retry").count() == 0
    assert page.get_by_role("button", name="Cancel").is_visible()
    entries = page.locator("#timeline li").count()
    page.wait_for_function(f"{LOG}.includes('second-start')", timeout=30_000)
    page.wait_for_function(f"{BADGE} === 'running'")
    assert "first-attempt" not in page.locator("#log").inner_text(), "the live log is the new attempt's"
    (tmp_path / "go").touch()
    page.wait_for_function(f"{BADGE} === 'failed'", timeout=30_000)
    page.wait_for_function(f"{LOG}.includes('second-end')")
    page.get_by_role("button", name="Retry").wait_for()
    assert page.get_by_role("button", name="Cancel").count() == 0, "the buttons follow the state"
    assert page.locator("#timeline li").count() > entries, "the timeline grew"
    assert "exited with code 5" in page.locator("#timeline li").last.inner_text()
    assert page.evaluate("window.sameDocument === true"), "no reload"
    done = alice.get(calc.id)
    assert (done.state, done.attempt, done.exit_code) == ("failed", 2, 5)
    assert not browser_log.errors and not browser_log.offsite
