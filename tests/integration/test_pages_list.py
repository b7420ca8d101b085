"""The calculations list over real HTTP: filters by type and dates, favorites, and bulk actions."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from calchub.client import Client
from calchub.client.errors import NotFound
from calchub.server.hub import Hub
from calchub.server.settings import Settings
from calchub.server.web import calculation_list
from calchub.server.web.session import Viewer
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD

PASSWORD = PAGE_PASSWORD
HTMX = {"HX-Request": "true"}
Browser = Callable[..., httpx.Client]


@pytest.fixture
def people(make_user: Callable[..., Client], client: Client) -> dict[str, Client]:
    """alice and bob in the project optics, eve on her own, mo a moderator."""
    client.create_project("optics")
    found = {name: make_user(name, password=PASSWORD) for name in ("alice", "bob", "eve")}
    found["mo"] = make_user("mo", password=PASSWORD, role="moderator")
    for name in ("alice", "bob"):
        client.add_member("optics", name)
    return found


def _ids(page: str) -> list[int]:
    """The calculations listed, in order (each row links its id)."""
    return [int(i) for i in re.findall(r'<tr id="calc-(\d+)">', page)]


def _bulk(http: httpx.Client, action: str, ids: list[Any], **extra: str) -> httpx.Response:
    data: dict[str, Any] = {"action": action, "ids": [str(i) for i in ids], **extra}
    return http.post("/calculations/bulk", data=data, headers=HTMX)


def test_type_and_submission_dates_filter_the_list_and_stay_in_the_next_page_link(
    browser: Browser, people: dict[str, Client]
) -> None:
    alice = people["alice"]
    typed = alice.submit(type="shell", inputs={"script": "true"}, name="typed")
    plain = alice.submit_many([{"command": ["true"], "name": f"plain-{n}"} for n in range(51)])
    page = browser("alice")
    form = page.get("/calculations").text
    assert '<label for="f-name">Search by name</label>' in form and 'type="search"' in form
    assert '<label for="f-type">Type</label>' in form and '<option value="shell"' in form
    assert '<option value="command"' in form and 'hx-push-url="true"' in form
    assert '<label for="f-from">Submitted from</label>' in form and 'type="date"' in form

    assert _ids(page.get("/calculations?type=shell").text) == [typed.id]
    commands = page.get("/calculations?type=command&sort=id").text
    assert _ids(commands) == [c.id for c in plain[:50]]
    more = re.search(r'<a class="more" href="/calculations\?([^"]+)">Next page</a>', commands)
    assert more, "a full page links the next one"
    link = more.group(1).replace("&amp;", "&")
    assert link.startswith("type=command&sort=id&cursor="), "the filters stay in the link"
    assert _ids(page.get(f"/calculations?{link}").text) == [plain[50].id]

    day = typed.created_at.date()
    after, before = (day + timedelta(days=1)).isoformat(), day.isoformat()
    assert _ids(page.get(f"/calculations?type=shell&submitted_from={day}&submitted_before={after}").text) == [
        typed.id
    ]
    assert _ids(page.get(f"/calculations?submitted_from={after}").text) == []
    assert _ids(page.get(f"/calculations?submitted_before={before}").text) == []
    empty = page.get("/calculations?name=&state=&type=&submitted_from=&submitted_before=&favorite=")
    assert empty.status_code == 200 and len(_ids(empty.text)) == 50, "an empty field is no filter"
    found = page.get("/calculations?name=TYP*", headers=HTMX).text
    assert "<html" not in found and _ids(found) == [typed.id], "the search ignores case"


def test_a_date_range_the_wrong_way_round_is_the_services_message_not_a_crash(
    browser: Browser, people: dict[str, Client]
) -> None:
    people["alice"].submit(["true"])
    page = browser("alice")
    wrong = page.get("/calculations?submitted_from=2024-05-02&submitted_before=2024-05-01")
    assert wrong.status_code == 422
    assert '<p class="error" role="alert">the first day is after the last one</p>' in wrong.text
    assert 'value="2024-05-02"' in wrong.text, "the form keeps what was asked"
    swapped = page.get("/calculations?submitted_from=2024-05-02&submitted_before=2024-05-02", headers=HTMX)
    assert swapped.status_code == 422 and "<html" not in swapped.text
    assert "the first day is after the last one" in swapped.text
    garbled = page.get("/calculations?submitted_from=2024-13-40")
    assert garbled.status_code == 422 and "submitted from is a date: YYYY-MM-DD" in garbled.text
    assert page.get("/calculations?state=sleeping").status_code == 422


def test_a_favorite_is_toggled_on_and_off_with_htmx_and_without(
    browser: Browser, people: dict[str, Client]
) -> None:
    calc = people["alice"].submit(["true"], project="optics")
    alice = browser("alice")
    assert f'aria-label="Add {calc.id} to favorites"' in alice.get("/calculations").text

    starred = alice.post(f"/calculations/{calc.id}/favorite", data={"on": "true"}, headers=HTMX)
    assert starred.status_code == 200 and starred.text.lstrip().startswith('<td class="star">')
    assert f'aria-label="Remove {calc.id} from favorites"' in starred.text and "<tr" not in starred.text
    assert people["alice"].get(calc.id).favorite
    assert _ids(alice.get("/calculations?favorite=true").text) == [calc.id]
    assert not people["bob"].get(calc.id).favorite, "a favorite is the viewer's own"

    plain = alice.post(f"/calculations/{calc.id}/favorite", data={"on": "false", "back": "state=queued&x=1"})
    assert (plain.status_code, plain.headers["location"]) == (303, "/calculations?state=queued")
    assert not people["alice"].get(calc.id).favorite
    assert alice.post(f"/calculations/{calc.id}/favorite", data={"on": "maybe"}).status_code == 422
    assert browser("eve").post(f"/calculations/{calc.id}/favorite", data={"on": "true"}).status_code == 404


def test_bulk_cancel_acts_on_each_and_says_why_one_was_refused(
    browser: Browser, people: dict[str, Client]
) -> None:
    alice = people["alice"]
    queued = [alice.submit(["true"], name=f"q{n}").id for n in range(3)]
    done = alice.submit(["true"], name="done").id
    alice.cancel(done)
    page = browser("alice")
    listing = page.get("/calculations").text
    for calc_id in [*queued, done]:
        assert f'<label for="pick-{calc_id}" class="visually-hidden">Select {calc_id}</label>' in listing
    assert '<label for="pick-all" class="visually-hidden">Select all on this page</label>' in listing

    answer = _bulk(page, "cancel", [*queued, done], back="sort=id")
    assert answer.status_code == 200 and "<html" not in answer.text
    assert "cancelled 3; 1 refused:" in answer.text and 'role="status"' in answer.text
    assert f"calculation {done} is cancelled; only unfinished work can be cancelled" in answer.text
    assert _ids(answer.text) == [*queued, done], "the list comes back with its filters (sort=id)"
    assert {alice.get(i).state.value for i in queued} == {"cancelled"}


def test_bulk_retry_then_bulk_delete(browser: Browser, people: dict[str, Client], client: Client) -> None:
    alice = people["alice"]
    ids = [alice.submit(["true"], name=f"r{n}").id for n in range(2)]
    for calc_id in ids:
        alice.cancel(calc_id)
    page = browser("alice")
    listing = page.get("/calculations").text
    assert ">Retry selected</button>" in listing and ">Delete selected</button>" in listing
    assert ">Cancel selected</button>" not in listing, "nothing listed can be cancelled"

    retried = _bulk(page, "retry", ids)
    assert retried.status_code == 200 and "retried 2" in retried.text and "refused" not in retried.text
    assert {alice.get(i).state.value for i in ids} == {"queued"}
    assert ">Cancel selected</button>" in retried.text, "the bar follows what the rows now allow"

    refused = _bulk(page, "delete", ids)
    assert "deleted 0; 2 refused:" in refused.text and "cancel it before deleting it" in refused.text
    for calc_id in ids:
        alice.cancel(calc_id)
    deleted = _bulk(page, "delete", ids)
    assert "deleted 2" in deleted.text and _ids(deleted.text) == []
    for calc_id in ids:
        with pytest.raises(NotFound):
            client.get(calc_id)


def test_every_row_gets_a_box_to_compare_and_only_the_actions_the_viewer_may_do_a_button(
    browser: Browser, people: dict[str, Client]
) -> None:
    calc = people["alice"].submit(["true"], project="optics")
    bobs = browser("bob").get("/calculations?project=optics").text
    assert _ids(bobs) == [calc.id], "bob, a member, sees it"
    assert f'id="pick-{calc.id}"' in bobs and ">Compare selected</button>" in bobs, "anyone may compare"
    assert "Cancel selected" not in bobs and "Retry selected" not in bobs and "Delete selected" not in bobs
    refused = _bulk(browser("bob"), "cancel", [calc.id])
    assert refused.status_code == 200 and "cancelled 0; 1 refused:" in refused.text
    assert people["alice"].get(calc.id).state.value == "queued", "a forged bulk changes nothing"
    alices = browser("alice").get("/calculations").text
    assert ">Cancel selected</button>" in alices and "Delete selected" not in alices
    mos = browser("mo").get("/calculations").text
    assert f'id="pick-{calc.id}"' in mos and ">Cancel selected</button>" in mos, "moderators cancel"
    assert "Retry selected" not in mos and "Delete selected" not in mos


def test_compare_selected_opens_the_compare_page_with_those_ids(
    browser: Browser, people: dict[str, Client]
) -> None:
    first, second = (people["alice"].submit(["true"], name=f"run-{n}").id for n in range(2))
    page = browser("alice")
    swapped = _bulk(page, "compare", [first, second])
    assert swapped.status_code == 204 and swapped.headers["HX-Redirect"] == f"/compare?ids={first}%2C{second}"
    plain = page.post("/calculations/bulk", data={"action": "compare", "ids": [str(first), str(second)]})
    assert plain.status_code == 303 and plain.headers["location"] == swapped.headers["HX-Redirect"]
    compared = page.get(plain.headers["location"]).text
    assert f'href="/calculations/{first}">#{first} run-0</a>' in compared
    theirs = people["eve"].submit(["true"]).id
    hidden = page.get(_bulk(page, "compare", [first, theirs]).headers["HX-Redirect"])
    assert hidden.status_code == 404 and f"no calculation {theirs}" in hidden.text, "compare checks them"


def test_another_projects_calculation_in_a_bulk_is_not_found_and_left_alone(
    browser: Browser, people: dict[str, Client]
) -> None:
    mine = people["alice"].submit(["true"]).id
    theirs = people["eve"].submit(["true"]).id
    answer = _bulk(browser("alice"), "cancel", [mine, theirs])
    assert "cancelled 1; 1 refused:" in answer.text and f"no calculation {theirs}" in answer.text
    assert people["eve"].get(theirs).state.value == "queued"
    assert people["alice"].get(mine).state.value == "cancelled"


@pytest.mark.parametrize(
    ("action", "ids", "said"),
    [
        ("explode", ["{mine}"], "unknown action &#39;explode&#39;: compare, cancel, retry or delete"),
        ("cancel", [], "choose at least one calculation"),
        ("cancel", ["{mine}", "0"], "ids are calculation numbers; &#39;0&#39; is not one"),
        ("cancel", ["{mine}", "x"], "ids are calculation numbers"),
        ("cancel", [*range(10_001, 11_001), "{mine}"], "choose at most 1000 calculations at a time"),
        ("cancel", [*range(10_001, 15_001), "{mine}"], "choose at most 1000 calculations at a time"),
    ],
    ids=["unknown-action", "no-ids", "zero", "not-a-number", "1001-ids", "5001-ids"],
)
def test_a_bulk_that_cannot_be_done_is_refused_whole_with_nothing_changed(
    browser: Browser, people: dict[str, Client], action: str, ids: list[Any], said: str
) -> None:
    mine = people["alice"].submit(["true"]).id
    page = browser("alice")
    answer = _bulk(page, action, [str(i).format(mine=mine) for i in ids])
    assert answer.status_code == 422 and "<html" not in answer.text
    assert said in answer.text and 'role="alert"' in answer.text
    assert _ids(answer.text) == [mine], "the list is still there"
    assert people["alice"].get(mine).state.value == "queued"
    plain = page.post("/calculations/bulk", data={"action": action, "ids": []})
    assert plain.status_code == 422 and "<html" in plain.text, "without HTMX, the whole page"


def test_a_read_only_token_in_the_cookie_cannot_bulk_act_or_star(
    server: ServerThread, people: dict[str, Client]
) -> None:
    """A personal token in the session cookie is no page session: it is sent to sign in."""
    calc = people["alice"].submit(["true"])
    token = people["alice"].create_token("look", scope="read").token
    with httpx.Client(base_url=server.url, timeout=10, cookies={"calchub_access": token}) as looker:
        assert looker.get("/calculations").status_code == 303, "sent to sign in"
        refused = looker.post("/calculations/bulk", data={"action": "cancel", "ids": [str(calc.id)]})
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login?next=")
        starred = looker.post(f"/calculations/{calc.id}/favorite", data={"on": "true"})
        assert starred.status_code == 303
    assert people["alice"].get(calc.id).state.value == "queued"
    assert not people["alice"].get(calc.id).favorite


def test_a_page_costs_the_same_queries_for_few_rows_as_for_many(
    settings: Settings, server: ServerThread, people: dict[str, Client]
) -> None:
    """Rows, their files and favorites, and what the viewer may do: no query per row."""
    alice = people["alice"]
    alice.submit_many([{"command": ["true"], "name": f"n{n}"} for n in range(40)])
    token = alice.create_token("count").token
    hub = Hub.from_settings(settings)
    try:
        viewer = Viewer(hub.user_for(token), token)
        statements: list[str] = []
        event.listen(hub.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

        def cost(limit: str) -> int:
            statements.clear()
            context = calculation_list._listing(hub, viewer, {"name": limit})
            offered = [("compare", "Compare selected"), ("cancel", "Cancel selected")]
            assert context["error"] is None and context["bulk"] == offered
            return len(statements)

        few, many = cost("n1"), cost("n*")
        assert len(calculation_list._listing(hub, viewer, {"name": "n*"})["rows"]) == 40
        assert few == many, f"{few} queries for one row, {many} for forty"
    finally:
        hub.engine.dispose()
