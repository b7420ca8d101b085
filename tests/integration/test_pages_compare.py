"""Figures as plots and the compare page over real HTTP: results reported by an agent, read as pages."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from calchub.calctypes.figures import Series, histograms, line_chart
from calchub.client import Client
from calchub.client.agent import AgentClient
from calchub.contracts.results import Figure, ResultSet, Scalar
from calchub.server.services.comparison import MAX_COMPARED
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD, claim, outcome

PASSWORD = PAGE_PASSWORD
#: A title that would end the spec's <script> early if the page did not escape it.
HOSTILE = "fit </script><script>alert(1)</script>"
SPEC = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)


@pytest.fixture
def finish(server: ServerThread, made: Any) -> Callable[[list[tuple[int, ResultSet]]], None]:
    """``finish([(id, results), ...])``: an agent claims those calculations and reports them completed."""

    def run(done: list[tuple[int, ResultSet]]) -> None:
        async def main() -> None:
            agent = AgentClient(server.url, made.agent_key)
            try:
                claimed = await claim(agent, max_count=len(done))
                attempts = {a.id: a.attempt for a in claimed.calculations}
                for calc_id, found in done:
                    assert await outcome(agent, calc_id, attempts[calc_id], "running") == "applied"
                    state = await outcome(
                        agent, calc_id, attempts[calc_id], "completed", exit_code=0, results=found
                    )
                    assert state == "applied"
            finally:
                await agent.close()

        asyncio.run(main())

    return run


def _fit(slope: float, title: str = "Data and fitted curve") -> ResultSet:
    x = [0.0, 1.0, 2.0, 3.0]
    data = Series("data", x, [0.1, slope + 0.1, 2 * slope, 3 * slope - 0.2], errors=[0.1] * 4, style="points")
    line = Series("fit", x, [slope * v for v in x])
    chart = line_chart([data, line], title, "x", "y", units=("s", "m"))
    spread = histograms({"slope": [slope, slope + 0.1, slope - 0.1]}, "posterior")
    return ResultSet(
        scalars=[
            Scalar(name="slope", value=slope, unit="m/s", error=0.05),
            Scalar(name="chisq", value=1.25),
        ],
        figures=[
            Figure(name="fit", path="figures/fit.svg", title=title, plot=chart.plot),
            Figure(name="distributions", path="figures/distributions.svg", plot=spread.plot),
            Figure(name="old", path="figures/old.svg", title="an image only"),
        ],
    )


@pytest.fixture
def two(
    make_user: Callable[..., Client], finish: Callable[[list[tuple[int, ResultSet]]], None]
) -> tuple[Client, int, int]:
    """Alice's two completed shell calculations with results and figures; eve is another user."""
    alice = make_user("alice", password=PASSWORD)
    make_user("eve", password=PASSWORD)
    first = alice.submit(type="shell", inputs={"script": "echo 1"}, name="slow </script><b>run</b>")
    second = alice.submit(type="shell", inputs={"script": "echo 2"}, name="fast")
    finish([(first.id, _fit(2.0, HOSTILE)), (second.id, _fit(3.0))])
    return alice, first.id, second.id


def _specs(page: str) -> dict[str, Any]:
    return {name: json.loads(text) for name, text in SPEC.findall(page)}


def test_a_figures_plot_survives_the_report_and_the_database_and_the_page_embeds_it(
    two: tuple[Client, int, int], browser: Callable[[str], httpx.Client]
) -> None:
    alice, first, _ = two
    expected = _fit(2.0, HOSTILE)
    kept = {f.name: f for f in alice.results(first).figures}
    assert kept["fit"].plot == expected.figures[0].plot, "exactly as reported, on this database"
    assert kept["old"].plot is None
    page = browser("alice").get(f"/calculations/{first}").text
    specs = _specs(page)
    assert set(specs) == {f"figure-{first}-fit", f"figure-{first}-distributions"}
    fit = specs[f"figure-{first}-fit"]
    assert [t["name"] for t in fit["data"]] == ["data", "fit"]
    assert fit["data"][0]["error_y"]["array"] == [0.1] * 4
    assert fit["layout"]["xaxis"]["title"]["text"] == "x [s]"
    assert f'data-plot-spec="figure-{first}-fit"' in page and '<script src="/static/plots.js" defer>' in page
    old = f'<img src="/calculations/{first}/files/figures/old.svg?kind=output" alt="an image only">'
    assert old in page, "a figure without a plot is its SVG"
    assert "</script><script>alert(1)" not in page, "a title cannot close the spec's script"
    assert "fit \\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in page, "the spec's title, escaped"
    assert "<figcaption>fit &lt;/script&gt;&lt;script&gt;alert(1)" in page


def test_compare_puts_results_and_inputs_side_by_side_and_overlays_shared_figures(
    two: tuple[Client, int, int], browser: Callable[[str], httpx.Client]
) -> None:
    _, first, second = two
    answer = browser("alice").get(f"/compare?ids={second},{first}")
    assert answer.status_code == 200, answer.text
    page = answer.text
    heads = re.findall(r'<th scope="col"><a href="/calculations/(\d+)">', page)
    assert heads == [str(second), str(first)], "one column per calculation, in the order asked"
    slope = re.search(r'<tr class="differs"><th scope="row">slope.*?</tr>', page, re.S)
    assert slope is not None, "the slopes differ"
    assert "<td>m/s</td>" in slope.group(0)
    assert "3 ± 0.05" in slope.group(0) and "2 ± 0.05" in slope.group(0)
    assert re.search(r'<tr><th scope="row">chisq</th>', page), "the same chisq is not marked"
    assert re.search(r'<tr class="differs"><th scope="row">script.*?<code>echo 2</code>', page, re.S)
    assert "slow &lt;/script&gt;&lt;b&gt;run&lt;/b&gt;" in page
    specs = _specs(page)
    assert set(specs) == {"compare-fit", "compare-distributions"}, "'old' has no plot data"
    fit = specs["compare-fit"]
    names = [t["name"] for t in fit["data"]]
    assert names == [
        f"#{second} fast: data",
        f"#{second} fast: fit",
        f"#{first} slow </script><b>run</b>: data",
        f"#{first} slow </script><b>run</b>: fit",
    ]
    colours = {t["legendgroup"]: t["line"]["color"] for t in fit["data"]}
    assert len(set(colours.values())) == 2, "one colour per calculation"
    bars = specs["compare-distributions"]
    assert bars["layout"]["barmode"] == "overlay" and len(bars["data"]) == 2
    assert f'src="/calculations/{first}/files/figures/old.svg?kind=output"' in page
    assert "\\u003c/script\\u003e" in page and "run</b>: data" not in page


def test_compare_refuses_a_bad_list_too_many_and_what_the_viewer_may_not_see(
    two: tuple[Client, int, int], browser: Callable[[str], httpx.Client]
) -> None:
    _, first, second = two
    alice, eve = browser("alice"), browser("eve")
    empty = alice.get("/compare")
    assert empty.status_code == 200 and '<label for="compare-ids">' in empty.text
    bad = alice.get(f"/compare?ids={first},x7")
    assert bad.status_code == 422
    assert "&#39;x7&#39; is not a calculation id" in bad.text and 'aria-invalid="true"' in bad.text
    many = ",".join(str(n) for n in range(1, MAX_COMPARED + 2))
    too_many = alice.get(f"/compare?ids={many}")
    assert too_many.status_code == 422 and f"compare at most {MAX_COMPARED} at once" in too_many.text
    hidden, missing = eve.get(f"/compare?ids={first}"), eve.get("/compare?ids=999999")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert f"no calculation {first}" in hidden.text and "no calculation 999999" in missing.text
    assert "slow" not in hidden.text and "<table" not in hidden.text
    # Checkboxes send ids=3&ids=5; htmx gets the comparison alone, a problem said inside it.
    fragment = alice.get(f"/compare?ids={first}&ids={second}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert set(_specs(fragment.text)) == {"compare-fit", "compare-distributions"}
    refused = eve.get(f"/compare?ids={first}", headers={"HX-Request": "true"})
    assert refused.status_code == 200 and f"no calculation {first}" in refused.text
