"""The study pages in a real browser, from runs of a real agent: a swept two-step pipeline of the
built-in ``python`` type, its progress going live to the end without a reload, and its plot.

Leaves ``test-artifacts/screenshots/study.png`` and ``studies.png`` (docs/images/study.png is
made from the first).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.acceptance.conftest import BROWSER_PASSWORD, SCREENSHOTS, BrowserLog, Site, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

#: The first step waits until the test opens its gate, so the page is seen before the work ends.
TABLE = """\
import math
import os
import time

def main(n, upper, gate):
    while not os.path.exists(gate):
        time.sleep(0.05)
    with open("table.csv", "w") as out:
        for i in range(n):
            x = upper * i / (n - 1)
            out.write(f"{x},{math.sin(x)}\\n")
    return {"rows": n}
"""
INTEGRATE = """\
def main(rows):
    points = [tuple(map(float, line.split(","))) for line in open("table.csv")]
    assert len(points) == rows
    total = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))
    return {"integral": total, "error": abs(total - 2)}
"""
#: The plots drawn on the page: Plotly's own element, with its SVG inside.
DRAWN = """[...document.querySelectorAll('.js-plotly-plot[data-plotted="true"]')]
  .filter(e => e.querySelector('svg.main-svg')).length"""


def _python(code: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "python", "inputs": {"code": code, "function": "main", "kwargs": kwargs}}


def _pipeline(gate: Path) -> dict[str, Any]:
    return {
        "parameters": {"n": 3, "upper": math.pi, "gate": str(gate)},
        "steps": {
            "table": _python(TABLE, n="${n}", upper="${upper}", gate="${gate}"),
            "integrate": _python(INTEGRATE)
            | {"after": [{"step": "table", "files": ["table.csv"], "results": {"kwargs.rows": "rows"}}]},
        },
    }


def test_a_studys_progress_goes_live_to_the_end_and_a_result_is_plotted_against_a_parameter(
    local_site: Site, browser_page: Page, browser_log: BrowserLog, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    site = local_site.up()
    site.client().create_user("alice", password=BROWSER_PASSWORD)
    alice = site.client()
    alice.login("alice", BROWSER_PASSWORD)
    gate = tmp_path / "gate"
    made = alice.create_study(
        "sines",
        description="sin on [0, π] tabulated, then integrated by the trapezoid rule",
        pipeline=_pipeline(gate),
        space={"product": [{"input": "n", "values": [5, 11, 101]}]},
    )
    assert made.count == 6

    page = browser_page
    sign_in(page, site, "alice", "/studies")
    row = page.locator(f"#study-{made.id}")
    expect(row).to_contain_text("pipeline")
    expect(row.get_by_role("img")).to_have_attribute("aria-label", re.compile(r"^0 of 6 finished: "))
    page.screenshot(path=SCREENSHOTS / "studies.png", full_page=True)
    row.get_by_role("link", name="sines").click()
    page.wait_for_url(re.compile(rf"/studies/{made.id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Study sines")
    progress = page.locator("#study-progress-live")
    expect(progress).to_contain_text("0 of 6 finished")
    expect(page.locator(".study-graph .node")).to_have_count(2)
    expect(page.locator(".study-graph .edge")).to_have_count(1)
    expect(page.locator("#plot-choices")).to_contain_text("No results yet")
    page.evaluate("window.__notReloaded = true")

    gate.touch()  # the tables run, then the integrals: the page follows without a reload
    expect(progress).to_contain_text("6 of 6 finished", timeout=60_000)
    expect(progress.locator(".study-bar")).to_have_attribute("aria-label", "6 of 6 finished: 6 completed")
    expect(page.locator(".study-graph .node-completed")).to_have_count(2)
    expect(page.locator("#study-results-live tbody tr")).to_have_count(6)
    expect(page.locator("#study-results-live tbody .state-completed")).to_have_count(6)
    assert page.evaluate("window.__notReloaded") is True, "the page was not reloaded"

    # The choices came with the results; choosing a result and a parameter draws the plot.
    page.get_by_label("Result (y)").select_option("rows")
    page.get_by_label("against (x)").select_option("n")
    page.wait_for_url(re.compile(rf"/studies/{made.id}\?y=rows&x=n$"))
    chart = page.locator("#study-plot .js-plotly-plot")
    expect(chart.locator(".ytitle")).to_have_text("rows")
    page.wait_for_function(f"{DRAWN} === 1")
    expect(chart.locator(".xtitle")).to_have_text("n")
    expect(chart.locator(".scatterlayer .point")).to_have_count(3)
    expect(page.locator("#study-plot figcaption")).to_have_text("rows against n: 3 points.")
    page.get_by_text("The numbers plotted").click()
    expect(page.locator(".plot-numbers tbody tr")).to_have_count(3)
    expect(page.locator(".plot-numbers tbody tr").last).to_contain_text("101")

    page.get_by_label("Result (y)").select_option("integral")
    page.wait_for_url(re.compile(r"\?y=integral&x=n$"))
    expect(chart.locator(".ytitle")).to_have_text("integral")
    page.locator("#study-plot").scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / "study.png", full_page=True)
    assert not browser_log.errors and not browser_log.offsite, browser_log.dump()
