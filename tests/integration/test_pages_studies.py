"""The study pages over real HTTP: the list, one study's progress, graph, results table, CSV and
plot, and its live stream; results reported by an agent driven by hand over the agent API."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from calchub.client import Client
from calchub.client.agent import AgentClient
from calchub.contracts.results import ResultSet, Scalar
from calchub.server.services import study_views
from calchub.server.web import study_pages
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD, claim, outcome, sse_events

PASSWORD = PAGE_PASSWORD
STREAM = re.compile(r'sse-connect="([^"]+)"')
SPEC = re.compile(r'<script type="application/json" id="study-plot-spec">(.*?)</script>', re.S)
TABLE = "def main(n):\n    return {'rows': n}\n"
INTEGRATE = "def main(rows):\n    return {'integral': 2.0}\n"


def _python(code: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "python", "inputs": {"code": code, "function": "main", "kwargs": kwargs}}


PIPELINE = {
    "parameters": {"n": 3},
    "steps": {
        "table": _python(TABLE, n="${n}"),
        "integrate": _python(INTEGRATE) | {"after": [{"step": "table", "results": {"kwargs.rows": "rows"}}]},
    },
}


class Agent:
    """The local cluster's agent, driven by hand: claims what is queued and reports it done."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def finish(self, results: dict[int, ResultSet], state: str = "completed") -> None:
        """Claim exactly the calculations of ``results``, run them and end them in ``state``."""

        async def main() -> None:
            agent = AgentClient(self.url, self.key)
            try:
                reply = await claim(agent, max_count=len(results))
                attempts = {a.id: a.attempt for a in reply.calculations}
                assert set(attempts) == set(results), (attempts, list(results))
                for calc_id, found in results.items():
                    assert await outcome(agent, calc_id, attempts[calc_id], "running") == "applied"
                    fields: dict[str, Any] = {"exit_code": 0 if state == "completed" else 1, "results": found}
                    assert await outcome(agent, calc_id, attempts[calc_id], state, **fields) == "applied"
            finally:
                await agent.close()

        asyncio.run(main())


@pytest.fixture
def agent(server: ServerThread, made: Any) -> Agent:
    return Agent(server.url, made.agent_key)


@pytest.fixture
def lab(client: Client, make_user: Callable[..., Client]) -> dict[str, Client]:
    """alice and bob are members of `lab`; eve is not."""
    client.create_project("lab")
    found = {name: make_user(name, password=PASSWORD) for name in ("alice", "bob", "eve")}
    for name in ("alice", "bob"):
        client.add_member("lab", name)
    return found


@pytest.fixture
def sines(lab: dict[str, Client]) -> tuple[int, list[Any]]:
    """alice's swept two-step pipeline in `lab`: table then integrate, at n=11 and n=21."""
    made = lab["alice"].create_study(
        "sines",
        description="sin <b>integrated</b>",
        project="lab",
        pipeline=PIPELINE,
        space={"product": [{"input": "n", "values": [11, 21]}]},
    )
    calcs = sorted(lab["alice"].list(study="sines"), key=lambda c: c.id)
    assert [c.step for c in calcs] == ["table@0", "integrate@0", "table@1", "integrate@1"]
    return made.id, calcs


def _run_all(agent: Agent, client: Client, calcs: list[Any]) -> None:
    """Both tables, then (once the chain has released them) both integrals."""
    table0, integrate0, table1, integrate1 = calcs
    agent.finish(
        {
            table0.id: ResultSet(scalars=[Scalar(name="rows", value=11)]),
            table1.id: ResultSet(scalars=[Scalar(name="rows", value=21)]),
        }
    )
    for calc in (integrate0, integrate1):
        _until_state(client, calc.id, "queued")
    agent.finish(
        {
            integrate0.id: ResultSet(scalars=[Scalar(name="integral", value=1.99, unit="m", error=0.01)]),
            integrate1.id: ResultSet(scalars=[Scalar(name="integral", value=1.9999, unit="m", error=0.001)]),
        }
    )


def _until_state(client: Client, calc_id: int, state: str) -> None:
    for _ in range(200):
        if client.get(calc_id).state == state:
            return
        asyncio.run(asyncio.sleep(0.05))
    pytest.fail(f"calculation {calc_id} never became {state}")


def _counts(page: str, where: str) -> dict[str, int]:
    """The counts by state in the progress block with id ``where``."""
    block = page.split(f'id="{where}"', 1)[1].split("</ul>", 1)[0]
    found = re.findall(r'<span class="state state-(\w+)">[^<]*</span> <strong>(\d+)</strong>', block)
    return {state: int(n) for state, n in found}


def test_the_list_shows_the_studies_a_member_sees_with_their_progress_and_no_one_elses(
    browser: Callable[[str], httpx.Client], lab: dict[str, Client], sines: tuple[int, list[Any]]
) -> None:
    study_id, _ = sines
    lab["eve"].create_study("mine", description="eve's own")
    page = browser("bob").get("/studies")
    assert page.status_code == 200
    assert f'<a href="/studies/{study_id}">sines</a>' in page.text
    assert "sin &lt;b&gt;integrated&lt;/b&gt;" in page.text, "descriptions are escaped"
    assert "mine" not in page.text, "eve's study is in her project"
    row = page.text.split(f'id="study-{study_id}"', 1)[1].split("</tr>", 1)[0]
    assert "<td>pipeline</td><td>lab</td><td>alice</td>" in re.sub(r">\s+<", "><", row)
    assert _counts(row, f"progress-{study_id}") == {"queued": 2, "waiting": 2}
    assert 'aria-label="0 of 4 finished: 2 queued, 2 waiting"' in row
    assert '<a href="/studies" aria-current="page">Studies</a>' in page.text, "in the navigation"
    eve = browser("eve")
    eves = eve.get("/studies").text
    assert "mine" in eves and "sines" not in eves
    mine = lab["eve"].study("mine")
    empty = eve.get(f"/studies/{mine.id}").text
    assert 'aria-label="no calculations yet"' in empty and "No calculations yet." in empty
    assert "This study varies nothing" in empty and 'sse-connect="/studies/' in empty, (
        "calculations may join it"
    )


def test_a_study_page_shows_its_facts_progress_graph_and_table_to_members_only(
    browser: Callable[[str], httpx.Client], lab: dict[str, Client], sines: tuple[int, list[Any]]
) -> None:
    study_id, calcs = sines
    answer = browser("bob").get(f"/studies/{study_id}")
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "<h1>Study sines</h1>" in page and "sin &lt;b&gt;integrated&lt;/b&gt;" in page
    facts = re.sub(r"\s+", " ", page.split('<dl class="facts">', 1)[1].split("</dl>", 1)[0])
    assert "<dt>kind</dt><dd>pipeline</dd>" in facts and "<dt>owner</dt><dd>alice</dd>" in facts
    assert '<a href="/projects/lab">lab</a>' in facts
    assert "<dt>varies</dt><dd><code>n</code>: 11, 21</dd>" in facts
    assert _counts(page, "study-progress-bar") == {"queued": 2, "waiting": 2}
    # The graph: a box per step, an arrow per link, each box with its counts.
    assert re.findall(r'<g class="node node-(\w+)" data-key="(\w+)"', page) == [
        ("waiting", "table"),
        ("waiting", "integrate"),
    ]
    assert re.findall(r'<path class="edge" [^>]*data-from="(\w+)" data-to="(\w+)"', page) == [
        ("table", "integrate")
    ]
    assert "<title>table (python): 2 queued</title>" in page and "0/2 completed" in page
    # The table: one row per calculation, with the point each ran at.
    rows = re.findall(r'<tr id="row-(\d+)">(.*?)</tr>', page, re.S)
    assert [int(i) for i, _ in rows] == [c.id for c in calcs]
    assert [re.findall(r'<td class="parameter">(.*?)</td>', r)[0] for _, r in rows] == [
        "11",
        "11",
        "21",
        "21",
    ]
    assert f'<a href="/calculations/{calcs[1].id}">{calcs[1].id}</a></td><td>integrate n=11</td>' in page
    assert f'href="/studies/{study_id}/results.csv"' in page
    assert "No results yet" in page, "nothing to plot yet"
    assert _stream_of(page).startswith(f"/studies/{study_id}/stream?scalars=0"), "live while work is left"
    eve = browser("eve")
    for path in (f"/studies/{study_id}", f"/studies/{study_id}/results.csv", f"/studies/{study_id}/stream"):
        refused = eve.get(path)
        assert refused.status_code == 404 and f"no study {study_id}" in refused.text, path
    assert browser("bob").get("/studies/999999").status_code == 404


def test_results_fill_the_table_the_csv_and_the_plot_of_a_result_against_a_parameter(
    browser: Callable[[str], httpx.Client],
    lab: dict[str, Client],
    sines: tuple[int, list[Any]],
    agent: Agent,
) -> None:
    study_id, calcs = sines
    _run_all(agent, lab["alice"], calcs)
    bob = browser("bob")
    page = bob.get(f"/studies/{study_id}").text
    assert _counts(page, "study-progress-bar") == {"completed": 4}
    assert "sse-connect" not in page, "nothing left to follow"
    assert re.findall(r'<g class="node node-(\w+)"', page) == ["completed", "completed"]
    assert '<th scope="col">integral [m]</th><th scope="col">rows</th>' in page
    integrate1 = page.split(f'<tr id="row-{calcs[3].id}">', 1)[1].split("</tr>", 1)[0]
    assert "<td>1.9999 ± 0.001</td><td></td>" in integrate1
    # The CSV: every row, the point's values and every scalar with its unit and error.
    answer = bob.get(f"/studies/{study_id}/results.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert f'filename="study-{study_id}-sines.csv"' in answer.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(answer.text)))
    assert table[0] == ["id", "name", "step", "state", "n", "integral [m]", "integral.error", "rows"]
    assert table[1:] == [
        [str(calcs[0].id), "table n=11", "table@0", "completed", "11", "", "", "11"],
        [str(calcs[1].id), "integrate n=11", "integrate@0", "completed", "11", "1.99", "0.01", ""],
        [str(calcs[2].id), "table n=21", "table@1", "completed", "21", "", "", "21"],
        [str(calcs[3].id), "integrate n=21", "integrate@1", "completed", "21", "1.9999", "0.001", ""],
    ]
    # The plot: the first result against the first parameter by default, one trace per step
    # that has the result; the numbers are on the page too.
    spec = json.loads(html.unescape(SPEC.findall(page)[0]))
    assert [(t["name"], t["x"], t["y"]) for t in spec["data"]] == [("integrate", [11, 21], [1.99, 1.9999])]
    assert spec["data"][0]["error_y"]["array"] == [0.01, 0.001]
    assert spec["layout"]["yaxis"]["title"]["text"] == "integral [m]"
    assert 'role="img" aria-label="integral [m] against n, 2 points' in page
    assert "<summary>The numbers plotted</summary>" in page
    # Another choice through HTMX: the plot alone, as the form asks for it.
    fragment = bob.get(f"/studies/{study_id}?x=n&y=rows", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<h1>" not in fragment.text
    rows = json.loads(html.unescape(SPEC.findall(fragment.text)[0]))
    assert [(t["name"], t["x"], t["y"]) for t in rows["data"]] == [("table", [11, 21], [11.0, 21.0])]
    wrong = bob.get(f"/studies/{study_id}?x=n&y=nope", headers={"HX-Request": "true"})
    assert "&#39;nope&#39; is not a result of this study (its results: integral, rows)" in wrong.text
    assert bob.get(f"/studies/{study_id}?x=m&y=rows").status_code == 422, "the whole page says so too"
    # The calculation page names its study, step and parents.
    calc_page = bob.get(f"/calculations/{calcs[3].id}").text
    assert f'<a href="/studies/{study_id}">sines</a> · step <code>integrate@1</code>' in calc_page
    assert f'<dt>waits for</dt><dd><a href="/calculations/{calcs[2].id}">{calcs[2].id}</a></dd>' in calc_page


def _stream_of(page: str) -> str:
    found = STREAM.search(page)
    assert found, "the page is not live"
    return html.unescape(found.group(1))


def _read_until(events: Iterator[tuple[str, str]], done: Callable[[dict[str, str]], bool]) -> dict[str, str]:
    """The last data of each event read, once ``done`` says it is enough."""
    seen: dict[str, str] = {}
    for name, data in events:
        seen[name] = data
        if done(seen):
            return seen
    pytest.fail(f"the stream ended first; it sent {sorted(seen)}")


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream looks again at once after a wake-up, not at most once a second."""
    monkeypatch.setattr(study_pages, "EVERY_SECONDS", 0.0)


def test_the_stream_sends_the_progress_graph_and_table_again_after_a_change_and_ends_with_the_study(
    browser: Callable[[str], httpx.Client],
    lab: dict[str, Client],
    sines: tuple[int, list[Any]],
    agent: Agent,
    eager: None,
) -> None:
    study_id, calcs = sines
    bob = browser("bob")
    url = _stream_of(bob.get(f"/studies/{study_id}").text)
    with bob.stream("GET", url) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse_events(stream.iter_lines())
        first = _read_until(events, lambda seen: {"progress", "graph", "results"} <= seen.keys())
        assert 'aria-label="0 of 4 finished: 2 queued, 2 waiting"' in first["progress"]
        assert "choices" not in first, "the page has the results there are"
        agent.finish({calcs[0].id: ResultSet(scalars=[Scalar(name="rows", value=11)])})
        # The table completes, then the chain releases the integral that waits for it.
        seen = _read_until(events, lambda seen: "2 queued" in seen.get("progress", "") and "scalars" in seen)
        assert 'aria-label="1 of 4 finished: 1 completed, 2 queued, 1 waiting"' in seen["progress"]
        assert "<title>table (python): 1 completed, 1 queued</title>" in seen["graph"]
        assert f'<tr id="row-{calcs[0].id}">' in seen["results"] and "<td>11</td>" in seen["results"]
        assert '<option value="rows" selected>rows</option>' in seen["choices"], "the first result to plot"
        assert seen["scalars"] == "1"
        # The rest runs: the stream says so, and ends.
        agent.finish(
            {
                calcs[1].id: ResultSet(scalars=[Scalar(name="integral", value=1.99)]),
                calcs[2].id: ResultSet(scalars=[Scalar(name="rows", value=21)]),
            }
        )
        _until_state(lab["alice"], calcs[3].id, "queued")
        agent.finish({calcs[3].id: ResultSet(scalars=[Scalar(name="integral", value=2.0)])})
        last = _read_until(events, lambda seen: "end" in seen)
    assert last["end"] == "finished" and 'aria-label="4 of 4 finished: 4 completed"' in last["progress"]
    assert "sse-connect" not in bob.get(f"/studies/{study_id}").text


def test_a_study_of_calculations_that_wait_for_each_other_draws_them_up_to_a_limit(
    browser: Callable[[str], httpx.Client], lab: dict[str, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = lab["alice"].submit_many(
        [
            {"command": ["true"], "name": "a", "step": "a", "study": "chain"},
            {"command": ["true"], "name": "b", "step": "b", "study": "chain", "after": [{"step": "a"}]},
            {
                "command": ["true"],
                "name": "c",
                "step": "c",
                "study": "chain",
                "after": [{"step": "a"}, {"step": "b"}],
            },
        ]
    )
    study = lab["alice"].study("chain")
    alice = browser("alice")
    page = alice.get(f"/studies/{study.id}").text
    assert study.kind == "group" and '<h2 id="graph-h">What waits for what</h2>' in page
    keys = re.findall(r'<g class="node node-\w+" data-key="(\d+)" transform="translate\((\d+)', page)
    assert [(int(k), int(x)) for k, x in keys] == [(a.id, 8), (b.id, 262), (c.id, 516)], "a column per depth"
    edges = re.findall(r'data-from="(\d+)" data-to="(\d+)"', page)
    assert sorted((int(p), int(q)) for p, q in edges) == [(a.id, b.id), (a.id, c.id), (b.id, c.id)]
    assert f'<a href="/calculations/{c.id}" aria-label="#{c.id} c: 1 waiting">' in page
    monkeypatch.setattr(study_views, "MAX_NODES", 2)
    crowded = alice.get(f"/studies/{study.id}").text
    assert "3 calculations, some waiting for others: too many to draw" in crowded
    assert '<g class="node' not in crowded


def test_a_sweep_tables_the_inputs_it_varies_and_plots_a_result_against_each(
    browser: Callable[[str], httpx.Client], lab: dict[str, Client], agent: Agent
) -> None:
    alice = lab["alice"]
    template = _python("def main(x, k):\n    return {'y': x * x}\n", k="a")
    made = alice.sweep(
        "squares",
        template,
        product=[{"input": "kwargs.x", "values": [3, 1, 2]}, {"input": "kwargs.k", "values": ["a", "b"]}],
    )
    calcs = sorted(alice.list(study="squares"), key=lambda c: c.id)
    assert len(calcs) == 6
    agent.finish(
        {c.id: ResultSet(scalars=[Scalar(name="y", value=c.inputs["kwargs"]["x"] ** 2)]) for c in calcs}
    )
    page = browser("alice").get(f"/studies/{made.id}?x=kwargs.x&y=y").text
    assert "<dt>varies</dt><dd><code>kwargs.k</code>: a, b; <code>kwargs.x</code>: 3, 1, 2</dd>" in re.sub(
        r"\s+", " ", page
    )
    assert '<h2 id="graph-h">' not in page, "a sweep's calculations wait for nothing"
    spec = json.loads(html.unescape(SPEC.findall(page)[0]))
    assert [(t["name"], t["x"], t["y"]) for t in spec["data"]] == [
        ("y", [1, 1, 2, 2, 3, 3], [1, 1, 4, 4, 9, 9])
    ]
    assert '<option value="kwargs.x" selected>kwargs.x</option>' in page


def test_the_cancel_button_is_there_for_who_may_press_it_and_cancels_what_is_left(
    browser: Callable[[str], httpx.Client], lab: dict[str, Client], sines: tuple[int, list[Any]]
) -> None:
    study_id, _ = sines
    form = f'action="/studies/{study_id}/cancel"'
    assert form not in browser("bob").get(f"/studies/{study_id}").text, "a member cancels only their own"
    refused = browser("bob").post(f"/studies/{study_id}/cancel")
    assert refused.status_code == 403 and "only its owner" in refused.text
    alice = browser("alice")
    assert form in alice.get(f"/studies/{study_id}").text
    done = alice.post(f"/studies/{study_id}/cancel", follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, f"/studies/{study_id}")
    page = alice.get(f"/studies/{study_id}").text
    assert _counts(page, "study-progress-bar") == {"cancelled": 4} and form not in page
    assert {c.message for c in lab["alice"].list(study="sines")} == {"study cancelled by alice from the web"}
