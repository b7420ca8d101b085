"""The browser harness end to end: Debian's Chromium, driven by Playwright, against a real server."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

import calchub
from tests.acceptance.conftest import BrowserLog, Site

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

PAGE_WITH_VENDORED_SCRIPTS = """<!doctype html>
<html><head>
  <script src="/static/vendor/htmx.min.js"></script>
  <script src="/static/vendor/sse.js"></script>
  <script src="/static/vendor/plotly.min.js"></script>
</head><body><div id="plot" style="width:600px;height:400px"></div></body></html>"""


def test_the_browser_reads_the_servers_health_and_api_description(
    local_site: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    local_site.start_server()

    # Swagger UI loads its scripts from a CDN: the harness aborts those requests at once,
    # and the page's own script then misses them.
    with browser_page.expect_event("pageerror"):
        browser_page.goto(f"{local_site.url}/docs")
    assert browser_log.offsite and all("127.0.0.1" not in line for line in browser_log.offsite)
    assert browser_log.errors and all("SwaggerUIBundle" in error for error in browser_log.errors)

    browser_page.goto(f"{local_site.url}/openapi.json")
    described = json.loads(browser_page.locator("body").inner_text())
    assert described["info"]["title"] and "/api/v1/health" in described["paths"]

    health = browser_page.goto(f"{local_site.url}/api/v1/health")
    assert health is not None and health.ok
    assert json.loads(browser_page.locator("body").inner_text()) == {
        "status": "ok",
        "version": calchub.__version__,
        "database": "sqlite",
    }


def test_the_vendored_scripts_load_from_the_package_and_draw(
    local_site: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    local_site.start_server()
    browser_page.goto(f"{local_site.url}/api/v1/health")
    browser_page.set_content(PAGE_WITH_VENDORED_SCRIPTS)

    assert browser_page.evaluate("htmx.version") == "2.0.11"
    assert browser_page.evaluate("Plotly.version") == "4.1.2"
    browser_page.evaluate("Plotly.newPlot('plot', [{x: [1, 2, 3], y: [2, 1, 3], type: 'scatter'}])")
    browser_page.locator("#plot .scatterlayer .trace").wait_for()
    assert not browser_log.errors and not browser_log.offsite, browser_log.dump()
