"""The model pages over real HTTP with a real model process: the list, one version's facts,
versions and log, Start, Stop, Make current and Delete through the pages' forms, "Try it", who
sees and may press what, and the live streams.

The model is ``tests/data/models/linear`` (y = 2x + 1), registered by alice in `lab`, where bob
is a member too; eve is in no project of hers; ada is an admin. The runtime pings every 0.2 s.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from calchub.client import Client
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD, model_package, sse_events

pytestmark = pytest.mark.settings(model_ping_seconds=0.2, model_backoff_seconds=0.05, model_max_failures=3)
STREAM = re.compile(r'sse-connect="([^"]+)"')
ANSWER = re.compile(r'<pre class="log answer" id="try-answer-body"[^>]*>(.*?)</pre>', re.S)


@pytest.fixture
def lab(client: Client, make_user: Callable[..., Client]) -> dict[str, Client]:
    """alice and bob are members of `lab`; eve is not; ada is an admin."""
    client.create_project("lab")
    found = {name: make_user(name, password=PAGE_PASSWORD) for name in ("alice", "bob", "eve")}
    found["ada"] = make_user("ada", password=PAGE_PASSWORD, role="admin")
    for name in ("alice", "bob"):
        client.add_member("lab", name)
    return found


@pytest.fixture
def linear(lab: dict[str, Client], tmp_path: Path) -> Client:
    """alice's `linear` version 1 in `lab`, stopped; alice's client."""
    made = lab["alice"].register_model(model_package(tmp_path), project="lab")
    assert (made.state, made.project) == ("stopped", "lab")
    return lab["alice"]


def _healthy(client: Client, version: str | None = None) -> None:
    model = client.wait_model("linear", version, timeout=60)
    assert model.state == "healthy", (model.state, model.message, client.model_logs("linear", version).text)


def _row(page: str, model_id: int) -> str:
    return re.sub(r"\s+", " ", page.split(f'<tr id="version-{model_id}">', 1)[1].split("</tr>", 1)[0])


def _post(http: httpx.Client, action: str, version: str = "1", **fields: str) -> httpx.Response:
    return http.post(f"/models/linear/{action}", data={"version": version, **fields})


def test_the_list_shows_each_version_its_state_and_the_buttons_its_viewer_may_press(
    browser: Callable[[str], httpx.Client], linear: Client
) -> None:
    model = linear.model("linear")
    alice = browser("alice").get("/models")
    assert alice.status_code == 200
    assert '<a href="/models" aria-current="page">Models</a>' in alice.text, "in the navigation"
    row = _row(alice.text, model.id)
    assert '<a href="/models/linear">linear</a>' in row and 'aria-label="linear version 1">1</a>' in row
    assert '<strong class="current">current</strong>' in row
    assert "<td>lab</td> <td>alice</td> <td>process</td>" in row
    assert 'class="state model-state model-state-stopped">stopped</span>' in row
    assert "<td>never</td> <td>0</td>" in row, "no ping yet, no restarts"
    assert 'action="/models/linear/start"' in row and 'action="/models/linear/stop"' not in row
    bob = _row(browser("bob").get("/models").text, model.id)
    assert "model-state-stopped" in bob and "<form" not in bob, "a member who is not its owner: no button"
    eve = browser("eve").get("/models").text
    assert "linear" not in eve and "No models yet" in eve
    assert "calchub model scaffold NAME\ncalchub model register FOLDER" in eve
    assert 'action="/models/linear/start"' in _row(browser("ada").get("/models").text, model.id)


def test_start_and_stop_through_the_pages_forms_and_only_for_who_may(
    browser: Callable[[str], httpx.Client], linear: Client, lab: dict[str, Client]
) -> None:
    bob, eve = browser("bob"), browser("eve")
    assert _post(bob, "start").status_code == 403
    assert _post(eve, "start").status_code == 404
    assert not linear.model("linear").wanted, "nothing changed"
    alice = browser("alice")
    started = _post(alice, "start", next="/models")
    assert (started.status_code, started.headers["location"]) == (303, "/models")
    assert linear.model("linear").wanted
    _healthy(linear)
    row = _row(alice.get("/models").text, linear.model("linear").id)
    assert "model-state-healthy state-completed" in row and 'action="/models/linear/stop"' in row
    assert re.search(r'<time datetime="[^"]+" title="[^"]+ UTC">(just now|\d+ s ago)</time>', row)
    assert _post(bob, "stop").status_code == 403 and linear.model("linear").wanted
    stopped = _post(alice, "stop")
    assert (stopped.status_code, stopped.headers["location"]) == (303, "/models/linear?version=1")
    assert not linear.model("linear").wanted
    assert _post(alice, "start", next="https://elsewhere.example/").headers["location"] == "/", "only here"


def test_a_version_page_shows_its_facts_state_versions_and_log(
    browser: Callable[[str], httpx.Client], linear: Client
) -> None:
    linear.start_model("linear")
    _healthy(linear)
    model = linear.model("linear")
    page = browser("bob").get("/models/linear")
    assert page.status_code == 200, page.text
    text = re.sub(r"\s+", " ", page.text)
    assert "<h1>Model linear <small>version 1 (current)</small></h1>" in text
    assert "y = 2x + 1, served by the standard library" in text
    assert '<dt>project</dt><dd><a href="/projects/lab">lab</a></dd>' in text
    assert (
        "<dt>owner</dt><dd>alice</dd>" in text
        and "<dt>command</dt><dd><code>python serve.py</code></dd>" in text
    )
    assert (
        "<dt>Python</dt><dd>the server&#39;s</dd>" in text and "<dt>resources</dt><dd>no limits</dd>" in text
    )
    assert '<tr id="model-inputs"> <th scope="row">inputs</th> <td><code>x</code></td>' in text
    assert '<tr id="model-outputs"> <th scope="row">outputs</th> <td><code>y</code></td>' in text
    status = text.split('id="model-status"', 1)[1].split("</dl>", 1)[0]
    assert "model-state-healthy" in status and "asked to run" in status
    assert f"<dd>pid {model.pid} on {model.host}, port {model.port}</dd>" in status
    assert "<dt>restarts</dt><dd>0</dd>" in status and "<dt>failures in a row</dt><dd>0</dd>" in status
    assert f'<tr id="v-{model.id}" aria-current="page">' in text
    assert "serving on" in page.text.split('id="log"', 1)[1].split("</pre>", 1)[0]
    assert "Make 1 current" not in text and 'action="/models/linear/stop"' not in text, "bob may not"
    body = html.unescape(page.text.split('id="try-body"', 1)[1].split(">", 1)[1].split("</textarea>")[0])
    assert json.loads(body) == {"instances": [[0.0]]}, "a row of zeros, one per input column"
    assert '<option value="application/json" selected>' in page.text
    assert STREAM.findall(page.text) == [f"/models/linear/live?version=1&amp;offset={_log_size(linear)}"]
    assert 'action="/models/linear/stop"' in browser("alice").get("/models/linear").text


def _log_size(client: Client) -> int:
    return client.model_logs("linear").size


def test_try_it_sends_the_body_to_the_model_and_shows_its_answer(
    browser: Callable[[str], httpx.Client], linear: Client
) -> None:
    bob, hx = browser("bob"), {"HX-Request": "true"}
    refused = bob.post("/models/linear/try", data={"version": "1", "body": "{}"}, headers=hx)
    assert refused.status_code == 503 and "linear 1 is stopped" in refused.text and "<h1>" not in refused.text
    linear.start_model("linear")
    _healthy(linear)
    answer = bob.post(
        "/models/linear/try", data={"version": "1", "body": '{"instances": [[1.0]]}'}, headers=hx
    )
    assert answer.status_code == 200 and "<h1>" not in answer.text, "to HTMX, the answer alone"
    assert json.loads(html.unescape(ANSWER.findall(answer.text)[0])) == {"predictions": [3.0]}
    assert 'The model answered <strong class="ok">200</strong> · <code>application/json</code>' in answer.text
    csv = {"version": "1", "body": "1\n2\n", "content_type": "text/csv"}
    assert (
        html.unescape(ANSWER.findall(bob.post("/models/linear/try", data=csv, headers=hx).text)[0])
        == "3\n5\n"
    )
    wrong = bob.post("/models/linear/try", data={"version": "1", "body": '{"rows": []}'}, headers=hx)
    assert wrong.status_code == 200 and 'class="error">400</strong>' in wrong.text, "the model's own refusal"
    odd = bob.post(
        "/models/linear/try", data={"version": "1", "body": "x", "content_type": "text/html"}, headers=hx
    )
    assert odd.status_code == 422 and "send application/json or text/csv" in odd.text
    whole = bob.post("/models/linear/try", data={"version": "1", "body": '{"instances": [[2]]}'})
    assert whole.status_code == 200 and "<h1>Model linear" in whole.text, "without HTMX, the page with it"
    assert json.loads(html.unescape(ANSWER.findall(whole.text)[0])) == {"predictions": [5.0]}
    assert "{&#34;instances&#34;: [[2]]}</textarea>" in whole.text, "what was sent stays in the form"


def test_a_viewer_outside_the_project_finds_nothing_and_only_admins_delete(
    browser: Callable[[str], httpx.Client], linear: Client, lab: dict[str, Client], server: ServerThread
) -> None:
    model = linear.model("linear")
    eve = browser("eve")
    for path in ("/models/linear", "/models/linear?version=1", "/models/linear/live?version=1"):
        hidden = eve.get(path)
        assert hidden.status_code == 404 and "no model named" in hidden.text, path
    for action in ("stop", "current", "try", "delete"):
        assert _post(eve, action).status_code in {403, 404}, action
    alice = browser("alice")
    assert "Delete for good" not in alice.get("/models/linear").text, "the owner is no admin"
    assert _post(alice, "delete").status_code == 403
    assert browser("bob").get("/models/nope").status_code == 404
    assert browser("bob").get("/models/linear?version=9").status_code == 404
    ada = browser("ada")
    assert "Delete for good</button>" in ada.get("/models/linear").text
    folder = Path(server.app.state.hub.store.root) / "models" / str(model.id)
    assert folder.is_dir()
    gone = _post(ada, "delete")
    assert (gone.status_code, gone.headers["location"]) == (303, "/models")
    assert linear.models() == [] and not folder.exists()
    assert "No models yet" in ada.get("/models").text


def test_make_current_switches_the_version_the_name_reaches(
    browser: Callable[[str], httpx.Client], linear: Client, tmp_path: Path
) -> None:
    linear.register_model(model_package(tmp_path, version='"2"', env="{SLOPE: '10'}"), project="lab")
    assert linear.model("linear").version == "2"
    alice, ada = browser("alice"), browser("ada")
    page = alice.get("/models/linear?version=1").text
    assert "Make 1 current</button>" in page and "Make 2 current" not in page
    assert "<h1>Model linear <small>version 1</small></h1>" in page
    assert "Make 1 current" not in browser("bob").get("/models/linear?version=1").text
    assert _post(browser("bob"), "current").status_code == 403
    assert "make another version current first" in ada.get("/models/linear?version=2").text
    done = _post(alice, "current", next="/models/linear?version=1")
    assert (done.status_code, done.headers["location"]) == (303, "/models/linear?version=1")
    assert linear.model("linear").version == "1"
    listing = alice.get("/models").text
    assert listing.count('<strong class="current">current</strong>') == 1
    assert '<th scope="rowgroup" rowspan="2"><a href="/models/linear">linear</a></th>' in listing


def _try_body(page: str) -> tuple[str, str]:
    """The "Try it" form's body and the content type chosen."""
    body = page.split('id="try-body"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    return html.unescape(body), re.findall(r'<option value="([^"]+)" selected>', page)[0]


def test_try_it_starts_from_the_models_example_or_a_row_of_zeros_per_input_column(
    browser: Callable[[str], httpx.Client], lab: dict[str, Client], tmp_path: Path
) -> None:
    alice, bob = lab["alice"], browser("bob")
    alice.register_model(model_package(tmp_path, inputs="{columns: [t, rho, p]}"), project="lab")
    body, kind = _try_body(bob.get("/models/linear").text)
    assert (json.loads(body), kind) == ({"instances": [[0.0, 0.0, 0.0]]}, "application/json")
    example = '{columns: [x], example: {instances: [[1.5], [2]]}, description: "x in m"}'
    alice.register_model(model_package(tmp_path, version='"2"', inputs=example), project="lab")
    page = bob.get("/models/linear").text
    body, kind = _try_body(page)
    assert (json.loads(body), kind) == ({"instances": [[1.5], [2]]}, "application/json")
    assert "<td><code>x</code></td> <td>x in m</td>" in re.sub(r"\s+", " ", page)
    csv = alice.register_model(
        model_package(tmp_path, version='"3"', inputs='{example: "1\\n2\\n"}'), project="lab"
    )
    assert csv.inputs is not None and csv.inputs.example == "1\n2\n"
    assert _try_body(bob.get("/models/linear").text) == ("1\n2\n", "text/csv"), "text: sent as CSV"


def _read_until(events: Iterator[tuple[str, str]], done: Callable[[dict[str, str]], bool]) -> dict[str, str]:
    """Every event's data so far (logs joined, the rest the last sent), once ``done`` says enough."""
    seen: dict[str, str] = {}
    for name, data in events:
        seen[name] = seen.get(name, "") + data if name == "log" else data
        if done(seen):
            return seen
    pytest.fail(f"the stream ended first; it sent {sorted(seen)}")


def test_the_lists_stream_sends_the_rows_again_when_a_state_changes(
    browser: Callable[[str], httpx.Client], linear: Client
) -> None:
    alice = browser("alice")
    assert STREAM.findall(alice.get("/models").text) == ["/live/models"]
    with alice.stream("GET", "/live/models") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse_events(stream.iter_lines())
        first = _read_until(events, lambda seen: "rows" in seen)
        assert "model-state-stopped" in first["rows"]
        linear.start_model("linear")
        later = _read_until(events, lambda seen: "model-state-healthy" in seen.get("rows", ""))
    assert 'action="/models/linear/stop"' in later["rows"]
    eve = browser("eve")
    with eve.stream("GET", "/live/models") as stream:
        assert (
            "linear" not in _read_until(sse_events(stream.iter_lines()), lambda seen: "rows" in seen)["rows"]
        )


def test_a_version_pages_stream_sends_its_state_buttons_and_what_its_log_gained(
    browser: Callable[[str], httpx.Client], linear: Client, lab: dict[str, Client]
) -> None:
    alice = browser("alice")
    url = html.unescape(STREAM.findall(alice.get("/models/linear").text)[0])
    with alice.stream("GET", url) as stream:
        events = sse_events(stream.iter_lines())
        first = _read_until(events, lambda seen: {"status", "actions", "versions"} <= seen.keys())
        assert (
            "model-state-stopped" in first["status"] and 'action="/models/linear/start"' in first["actions"]
        )
        linear.start_model("linear")
        seen = _read_until(
            events,
            lambda seen: "model-state-healthy" in seen["status"] and "serving on" in seen.get("log", ""),
        )
        assert 'action="/models/linear/stop"' in seen["actions"] and "model-state-healthy" in seen["versions"]
        assert "pid " in seen["status"]
        # A browser that connects again says where it was (the last log event's id): it gets the rest.
        log = linear.model_logs("linear")
        again = {"Last-Event-ID": str(log.size - 10)}
        with alice.stream("GET", url, headers=again) as resumed:
            rest = _read_until(sse_events(resumed.iter_lines()), lambda seen: "log" in seen)["log"]
        assert html.unescape(rest) == log.text[-10:]
        lab["ada"].delete_model("linear", "1")
        assert _read_until(events, lambda seen: "end" in seen)["end"] == "gone"


def test_each_log_event_is_numbered_by_where_the_log_goes_on_from(
    browser: Callable[[str], httpx.Client], linear: Client
) -> None:
    linear.start_model("linear")
    _healthy(linear)
    size = linear.model_logs("linear").size
    with browser("bob").stream("GET", "/models/linear/live?version=1&offset=0") as stream:
        ids = (line.removeprefix("id: ") for line in stream.iter_lines() if line.startswith("id: "))
        assert next(ids) == str(size)
