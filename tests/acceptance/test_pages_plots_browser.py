"""Figures drawn by Plotly.js and the compare page, in a real browser, from runs of a real agent.

Leaves ``test-artifacts/screenshots/calculation-plot.png`` and ``compare.png``
(docs/images/compare.png is made from it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.acceptance.conftest import BROWSER_PASSWORD, SCREENSHOTS, BrowserLog, Site, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow
#: A quick type: a noisy exponential decay and its model, a half-life with its error, and their plot.
DECAY = r"""
name: decay
version: "1"
title: Exponential decay
inputs:
  type: object
  properties:
    rate: {type: number, default: 0.5, exclusiveMinimum: 0}
files:
  run.sh: |
    awk -v rate={{ rate }} 'BEGIN {
      srand(7); print "t signal model"
      for (i = 0; i < 60; i++) {
        t = i * 0.1; m = 10 * exp(-rate * t); printf "%g %g %g\n", t, m + rand() - 0.5, m
      }
      printf "{\"half_life\": {\"value\": %g, \"unit\": \"s\", \"error\": %g}}\n",
        log(2) / rate, 0.02 / rate > "summary.json"
    }'
command: [bash, run.sh]
extract:
  - table: {name: curve, file: stdout, header: t}
  - json: {file: summary.json, provides: [half_life]}
analyses:
  - name: plot
    needs: [curve]
    plot: {table: curve, x: t, y: [signal, model], name: decay, title: Signal and model}
"""
#: The plots drawn on the page: Plotly's own element, with its SVG inside.
DRAWN = """[...document.querySelectorAll('.js-plotly-plot[data-plotted="true"]')]
  .filter(e => e.querySelector('svg.main-svg')).length"""


def test_a_finished_runs_figure_is_a_plotly_chart_and_two_runs_overlay_on_the_compare_page(
    local_site: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    from playwright.sync_api import expect

    (local_site.home / "calctypes").mkdir()
    (local_site.home / "calctypes" / "decay.yaml").write_text(DECAY)
    site = local_site.up()
    site.client().create_user("alice", password=BROWSER_PASSWORD)
    alice = site.client()
    alice.login("alice", BROWSER_PASSWORD)
    slow = alice.submit(type="decay", inputs={"rate": 0.3}, name="slow decay")
    fast = alice.submit(type="decay", inputs={"rate": 0.9}, name="fast decay")
    for calc in (slow, fast):
        done = alice.wait(calc.id, 30)
        assert done.state == "completed", done.message

    page = browser_page
    sign_in(page, site, "alice", f"/calculations/{slow.id}")
    page.wait_for_function(f"{DRAWN} === 1")
    chart = page.locator("#figures .js-plotly-plot")
    expect(chart.locator(".legendtext")).to_have_text(["signal", "model"])
    expect(chart.locator(".xtitle")).to_have_text("t")
    expect(chart.locator(".modebar")).to_have_count(1)  # zoom, pan, reset, download
    chart.locator(".nsewdrag").first.hover()  # hovering shows the values at that x
    expect(chart.locator(".hoverlayer .legendtext").first).to_be_attached()
    chart.scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / "calculation-plot.png", full_page=True)

    # The compare page: ids typed in its form, the comparison swapped in by htmx, its plot drawn.
    page.get_by_role("link", name="Compare", exact=True).click()
    page.get_by_label("Calculation ids").fill(f"{slow.id}, {fast.id}")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(rf"/compare\?ids={slow.id}%2C"))
    page.wait_for_function(f"{DRAWN} === 1")
    overlaid = page.locator("#comparison .js-plotly-plot .legendtext")
    expect(overlaid).to_have_text(
        [
            f"#{n} {name} decay: {what}"
            for n, name in ((slow.id, "slow"), (fast.id, "fast"))
            for what in ("signal", "model")
        ]
    )
    half_life = page.locator("tr.differs", has=page.get_by_role("rowheader", name=re.compile("half_life")))
    expect(half_life).to_contain_text("2.31049 ± 0.0666667")
    expect(half_life).to_contain_text("0.770164 ± 0.0222222")
    expect(page.locator("tr.differs", has_text="rate")).to_contain_text("0.9")
    page.screenshot(path=SCREENSHOTS / "compare.png", full_page=True)

    # A calculation alice may not see (or that is not there) is not found, next to the field.
    page.get_by_label("Calculation ids").fill(f"{slow.id},999999")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#compare-problem")).to_have_text("no calculation 999999")
    assert not browser_log.errors and not browser_log.offsite, browser_log.dump()
