"""Graphs of dependent calculations: an order that puts parents first, cycles named, descendants."""

from __future__ import annotations

import pytest

from calchub.domain.graphs import CycleError, UnknownParent, descendants, order


def test_parents_come_before_their_children_in_any_graph() -> None:
    parents = {"report": ["fit", "plot"], "plot": ["fit"], "fit": ["relax"], "relax": [], "side": []}
    found = order(parents)
    assert set(found) == set(parents) and len(found) == len(parents)
    for node, ps in parents.items():
        assert all(found.index(p) < found.index(node) for p in ps), node
    assert order({"b": [], "a": []}) == ["b", "a"], "unrelated nodes keep the order given"


def test_parents_that_exist_already_may_be_named_and_are_not_in_the_order() -> None:
    assert order({101: [7, 8], 102: [101]}, known=[7, 8]) == [101, 102]
    with pytest.raises(UnknownParent, match="102 depends on 9, which is not there"):
        order({101: [7], 102: [9]}, known=[7])


@pytest.mark.parametrize(
    ("parents", "cycle"),
    [
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"start": [], "a": ["start", "c"], "b": ["a"], "c": ["b"]}, ["a", "c", "b", "a"]),
    ],
)
def test_a_cycle_is_refused_and_named(parents: dict[str, list[str]], cycle: list[str]) -> None:
    with pytest.raises(CycleError) as refused:
        order(parents)
    assert refused.value.cycle == cycle
    assert " -> ".join(cycle) in str(refused.value)


def test_a_long_chain_is_ordered_without_running_out_of_stack() -> None:
    chain = {n: [n - 1] if n else [] for n in range(50_000)}
    assert order(dict(reversed(chain.items()))) == list(range(50_000))


def test_descendants_are_everything_that_depends_on_a_node_directly_or_not() -> None:
    parents = {"a": [], "b": ["a"], "c": ["b"], "d": ["a", "x"], "x": [], "e": ["x"]}
    assert descendants(parents, ["a"]) == {"b", "c", "d"}
    assert descendants(parents, ["b"]) == {"c"}
    assert descendants(parents, ["c"]) == set()
    assert descendants(parents, ["a", "x"]) == {"b", "c", "d", "e"}
