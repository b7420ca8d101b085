"""A bumps fit from the new-calculation form, in a real browser, run by a real agent with real bumps.

Leaves ``test-artifacts/screenshots/new.png`` (the form with a Slurm cluster's live script;
docs/images/new-calculation.png is a copy) and ``bumps-completed.png``.
"""

from __future__ import annotations

import importlib.util
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.acceptance.conftest import (
    BROWSER_PASSWORD,
    SCREENSHOTS,
    BrowserLog,
    Site,
    labelled,
    sign_in,
    slurm_cluster,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("bumps") is None,
        reason="bumps is not installed (pip install 'calchub[dev]')",
    ),
]
DATA = Path(__file__).parents[1] / "data" / "bumps"
#: A type whose ``plot`` analysis needs its ``stats`` analysis.
MEASURE = """\
name: measure
version: "1"
command: [echo, "Step Value"]
extract:
  - table: {name: curve, file: stdout, header: Step}
analyses:
  - {name: stats, needs: [curve], stats: {table: curve, columns: [Value]}}
  - {name: plot, needs: [curve, stats], plot: {table: curve, x: Step, y: [Value], name: curve}}
"""
STATE = "document.querySelector('#live-state .state').textContent"


def _analyses_tick_what_they_need(page: Page, site: Site) -> None:
    from playwright.sync_api import expect

    page.goto(f"{site.url}/calculations/new?type=measure")
    stats, plot = page.get_by_label("stats", exact=True), page.get_by_label("plot", exact=True)
    stats.uncheck()
    expect(plot).not_to_be_checked()
    expect(page.locator("#analyses-note")).to_contain_text("also cleared, as it needs stats: plot")
    plot.check()
    expect(stats).to_be_checked()
    expect(page.locator("#analyses-note")).to_contain_text("also ticked, as plot needs it: stats")


def _fill_the_bumps_form(page: Page, site: Site) -> None:
    """Problems show by their field as the form is filled; the Slurm cluster's script follows it."""
    from playwright.sync_api import expect

    page.goto(f"{site.url}/calculations/new?type=bumps")
    seed = page.get_by_label("seed", exact=True)
    seed.fill("-3")
    expect(page.locator("#err-in-seed")).to_contain_text("-3 is less than the minimum of 0")
    expect(seed).to_have_attribute("aria-invalid", "true")
    seed.fill("1")
    page.locator("#up-1").set_input_files(DATA / "model.py")
    page.locator("#up-2").set_input_files(DATA / "line.dat")
    expect(page.locator("#preview h2")).to_have_text("Command")
    expect(seed).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-in-seed")).to_have_text("")

    page.get_by_label("Cluster", exact=True).select_option("hpc")
    partition = page.get_by_label("Partition", exact=True)
    expect(partition).to_contain_text("long (192 of 256 CPUs idle, time limit 7-00:00:00, up)")
    partition.select_option("long")
    with page.expect_request(lambda r: r.url.endswith("/calculations/new/preview")) as sent:
        page.get_by_label("Walltime", exact=True).fill("2:00:00")
    body = sent.value.post_data_buffer or b""
    assert b'filename="model.py"' in body and b"FitProblem" not in body, (
        "a preview sends only the files' names"
    )
    script = page.locator("#script")
    expect(script).to_contain_text("#SBATCH --partition=long")
    expect(script).to_contain_text("#SBATCH --time=02:00:00")
    expect(script).to_contain_text("module load bumps")
    expect(script).to_contain_text("--fit=lm")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=SCREENSHOTS / "new.png", full_page=True)

    page.get_by_label("Cluster", exact=True).select_option("local")
    expect(page.locator("#partition")).to_have_count(0)
    expect(page.locator("#preview h2")).to_have_text("Command")
    page.get_by_label("Name", exact=True).fill("line fit")


def test_a_bumps_fit_from_the_form_runs_live_to_its_figures_and_zip(
    local_site: Site, browser_page: Page, browser_log: BrowserLog, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    (local_site.home / "calctypes").mkdir()
    (local_site.home / "calctypes" / "measure.yaml").write_text(MEASURE)
    site = local_site.up()
    site.client().create_user("alice", password=BROWSER_PASSWORD)
    slurm_cluster(site, setup=["module load bumps"])
    page = browser_page
    sign_in(page, site, "alice", "/calculations/new?type=bumps")
    labelled(page)
    _analyses_tick_what_they_need(page, site)
    _fill_the_bumps_form(page, site)

    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/calculations/\d+$"))
    calc_id = int(page.url.rsplit("/", 1)[1])
    assert page.evaluate(STATE) in {"queued", "claimed", "running"}, "the page opened before the fit ended"
    # No reload: the state arrives over server-sent events.
    page.wait_for_function(f"{STATE} === 'completed'", timeout=120_000)

    page.reload()  # the results and figures of the finished fit
    figures = page.locator("#figures")
    expect(figures.get_by_role("heading", name="Figures")).to_be_visible()
    expect(figures.locator("img, .js-plotly-plot").first).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "bumps-completed.png", full_page=True)

    with page.expect_download() as caught:
        page.locator(f'a[href="/calculations/{calc_id}/archive"]').click()
    archive = tmp_path / "fit.zip"
    caught.value.save_as(archive)
    names = set(zipfile.ZipFile(archive).namelist())
    assert {f"calc-{calc_id}/inputs/model.py", f"calc-{calc_id}/inputs/line.dat"} <= names
    assert {f"calc-{calc_id}/outputs/out/model.par", f"calc-{calc_id}/outputs/figures/fit.svg"} <= names
    assert not browser_log.errors and not browser_log.offsite
