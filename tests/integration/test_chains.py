"""Chains: a calculation that waits for others is checked whole at submit, waits, and is
skipped when a parent ends without completing (real runs are in tests/acceptance/test_chains.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from calchub.client import BadRequest, Client, Conflict, Forbidden, NotFound
from calchub.testing import ServerThread
from tests.integration.helpers import cli as run_cli

STEP = {"type": "python", "inputs": {"code": "def main(n=1):\n    return {'n': n}\n", "function": "main"}}


def _step(name: str, *after: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return STEP | {"name": name, "step": name, "after": list(after)} | fields


def test_a_cycle_is_refused_naming_it_and_nothing_is_made(client: Client) -> None:
    with pytest.raises(BadRequest) as refused:
        client.submit_many(
            [
                _step("a", {"step": "c"}),
                _step("b", {"step": "a"}),
                _step("c", {"step": "b"}),
            ]
        )
    assert "wait for each other, so none would ever run: a -> c -> b -> a" in str(refused.value)
    assert refused.value.field == "calculations[0].after"
    assert client.list() == []


@pytest.mark.parametrize(
    ("calcs", "field", "said"),
    [
        ([_step("a", {"step": "nope"})], "after[0].step", "no step 'nope' in this request"),
        ([_step("a", {"step": "a"})], "after[0].step", "cannot wait for itself"),
        (
            [_step("a"), _step("a")],
            "calculations[1].step",
            "two calculations of the request are called step 'a'",
        ),
        (
            [
                _step("a"),
                {
                    "command": ["cat", "x.txt"],
                    "after": [{"step": "a", "files": ["x.txt"]}],
                    "files": [{"path": "x.txt", "content": "mine"}],
                },
            ],
            "calculations[1].after[0].files[0]",
            "'x.txt' is both a file this calculation starts with and a file from step 'a'",
        ),
        (
            [_step("a"), _step("b", {"step": "a", "results": {"kwargs": "n"}}, inputs={"code": 5})],
            "calculations[1].inputs.code",
            "is not of type 'string'",
        ),
    ],
)
def test_a_bad_graph_is_refused_by_its_field(client: Client, calcs: list[Any], field: str, said: str) -> None:
    with pytest.raises(BadRequest) as refused:
        client.submit_many(calcs)
    assert said in str(refused.value)
    assert refused.value.field is not None and refused.value.field.endswith(field)
    assert client.list() == []


def test_results_fill_a_type_s_inputs_so_a_plain_command_cannot_take_them(client: Client) -> None:
    plain = [
        {"command": ["true"], "step": "a"},
        {"command": ["true"], "after": [{"step": "a", "results": {"x": "y"}}]},
    ]
    with pytest.raises(
        ValueError, match="results from a parent fill a type's inputs; give this calculation a type"
    ):
        client.submit_many(plain)  # refused before it is sent, by the model the server checks with too


def test_an_existing_parent_must_be_visible_alive_and_keep_what_is_asked(
    client: Client, make_user: Callable[..., Client]
) -> None:
    parent = client.submit(["true"], name="parent", outputs=["out/*.csv"])
    other = make_user("mallory")
    with pytest.raises(NotFound):
        other.submit(["true"], after=[{"calculation": parent.id}])
    with pytest.raises(BadRequest, match=r"keeps no file 'log.txt' \(it keeps: out/\*\.csv\)"):
        client.submit(["true"], after=[{"calculation": parent.id, "files": ["log.txt"]}])
    child = client.submit(["true"], after=[{"calculation": parent.id, "files": ["out/t.csv"]}])
    assert (child.state, client.get(child.id).parents) == ("waiting", [parent.id])
    client.cancel(parent.id)
    with pytest.raises(Conflict, match=f"calculation {parent.id} is cancelled, so nothing waiting"):
        client.submit(["true"], after=[{"calculation": parent.id}])


def test_a_cancelled_parent_skips_its_descendants_and_a_retry_makes_them_wait_again(client: Client) -> None:
    a, b, c = client.submit_many(
        [
            {"command": ["true"], "name": "a", "step": "a"},
            {"command": ["true"], "name": "b", "step": "b", "after": [{"step": "a"}]},
            {"command": ["true"], "name": "c", "step": "c", "after": [{"step": "b"}]},
        ]
    )
    assert [x.state for x in (a, b, c)] == ["queued", "waiting", "waiting"]
    assert (b.step, client.get(c.id).parents) == ("b", [b.id])
    client.cancel(a.id)
    skipped = client.wait(c.id, timeout=10)  # skipped is final: the wait ends on it
    assert client.get(b.id).message == f"calculation {a.id} cancelled, so this one cannot run"
    assert (skipped.state, skipped.message) == (
        "skipped",
        f"calculation {b.id} skipped, so this one cannot run",
    )
    client.retry(a.id)
    assert [client.get(x.id).state for x in (a, b, c)] == ["queued", "waiting", "waiting"]
    assert [e.to_state for e in client.events(c.id)][-2:] == ["skipped", "waiting"]


def test_a_cancelled_child_that_never_ran_waits_again_when_retried(client: Client) -> None:
    parent = client.submit(["true"], name="parent")
    child = client.submit(["true"], name="child", after=[{"calculation": parent.id}])
    client.cancel(child.id)
    assert client.retry(child.id).state == "waiting", "it takes from its parents again, once they are done"
    assert client.get(parent.id).state == "queued"


def test_in_a_project_that_approves_each_run_an_approved_child_waits_for_its_parent(
    client: Client, make_user: Callable[..., Client]
) -> None:
    bob = make_user("bob")
    client.create_project("careful", requires_approval=True)
    client.add_member("careful", "bob")
    parent, child = bob.submit_many(
        [
            {"command": ["true"], "step": "p", "project": "careful"},
            {"command": ["true"], "after": [{"step": "p"}], "project": "careful"},
        ]
    )
    assert (parent.state, child.state) == ("pending_approval", "pending_approval")
    assert client.approve(child.id).state == "waiting"
    assert client.approve(parent.id).state == "queued"


def test_the_cli_submits_a_child_that_takes_a_file_and_a_result(
    server: ServerThread, made: Any, client: Client
) -> None:
    def cli(*args: str, code: int = 0) -> str:
        return run_cli(server.url, made.token, *args, code=code)

    parent = client.submit(["true"], name="parent", outputs=["*.xyz"])
    out = cli(
        "submit", "-t", "python", "-i", "code=def main(e): return {'e': e}", "-i", "function=main",
        "--after", str(parent.id), "--take", f"{parent.id}:final.xyz:start.xyz",
        "--take-result", f"{parent.id}:energy=kwargs.e", "--json",
    )  # fmt: skip
    child = client.get(json.loads(out)["id"])
    assert (child.state, child.parents) == ("waiting", [parent.id])
    shown = cli("show", str(child.id))
    assert f"after     {parent.id}" in shown
    assert "must look like ID:RESULT=INPUT" in cli(
        "submit", "--take-result", "1:energy", "--", "true", code=1
    )


def test_a_file_placed_twice_or_named_by_a_pattern_is_refused(client: Client) -> None:
    twice = [
        {"command": ["true"], "step": "a"},
        {"command": ["true"], "step": "b"},
        {
            "command": ["true"],
            "after": [{"step": "a", "files": ["x.txt"]}, {"step": "b", "files": ["x.txt"]}],
        },
    ]
    with pytest.raises(BadRequest, match=r"'x\.txt' would be placed twice, from step 'a' and from step 'b'"):
        client.submit_many(twice)
    with pytest.raises(ValueError, match="name one file, not a pattern"):
        client.submit(["true"], after=[{"calculation": 1, "files": ["*.xyz"]}])
    assert client.list() == []


def test_a_parent_cannot_be_deleted_while_a_child_may_still_take_from_it(client: Client) -> None:
    parent = client.submit(["true"], name="parent", outputs=["x.txt"])
    child = client.submit(["true"], after=[{"calculation": parent.id, "files": ["x.txt"]}])
    client.cancel(parent.id)
    assert client.wait(child.id, timeout=10).state == "skipped"
    with pytest.raises(Conflict, match=f"calculations {child.id} have not run yet and take from calculation"):
        client.delete(parent.id)
    client.delete(child.id)
    client.delete(parent.id)


def test_a_swept_pipeline_of_more_than_ten_thousand_calculations_is_refused(client: Client) -> None:
    steps = {"a": STEP, "b": STEP | {"after": [{"step": "a"}]}}
    with pytest.raises(
        BadRequest, match="5001 points of 2 steps are 10002 calculations, more than the 10000"
    ):
        client.create_study(
            "big",
            pipeline={"parameters": {"n": 1}, "steps": steps},
            space={"product": [{"input": "n", "values": list(range(5001))}]},
        )
    assert client.studies() == []


def test_a_user_who_made_a_study_is_not_deleted_with_it(
    client: Client, make_user: Callable[..., Client]
) -> None:
    bob = make_user("bob")
    bob.create_study("notes", description="nothing run yet")
    with pytest.raises(Conflict, match=r"owns the studies ~bob/notes"):
        client.delete_user("bob")


def test_cancelling_a_study_cancels_what_its_owner_may_and_leaves_a_member_s_own(
    server: ServerThread, made: Any, client: Client, make_user: Callable[..., Client]
) -> None:
    bob, carol = make_user("bob"), make_user("carol")
    client.create_project("lab")
    client.add_member("lab", "bob")
    client.add_member("lab", "carol")
    study = bob.create_study(
        "scan", project="lab", pipeline={"steps": {"a": STEP, "b": STEP | {"after": [{"step": "a"}]}}}
    )
    carol.submit(["true"], project="lab", study="scan", name="carol's own")
    assert (
        bob.describe_study(study.id, "a scan of the wrong input").description == "a scan of the wrong input"
    )
    with pytest.raises(Forbidden):
        carol.describe_study(study.id, "mine now")
    done = bob.cancel_study(study.id, "wrong input")
    assert (done.cancelled, done.left) == (2, 1)
    assert done.study.counts == {"cancelled": 2, "queued": 1}
    assert {c.message for c in bob.list(study="scan", state=["cancelled"])} == {"wrong input"}
    with pytest.raises(Forbidden):
        carol.cancel_study(study.id)
    out = run_cli(server.url, made.token, "study", "cancel", "scan", "--project", "lab")
    assert "study scan: 1 calculation cancelled" in out
