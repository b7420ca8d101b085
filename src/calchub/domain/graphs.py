"""Graphs of dependent calculations (or of a pipeline's steps): order, cycles, descendants.

A graph is given as ``parents``: every node, with the nodes it depends on
(an empty list for none). A node runs after all its parents; a
parent that fails, is cancelled or turns out invalid makes every node that
depends on it, directly or not, ``skipped``. A graph with a cycle can never
run, and is refused with the cycle named, so the request can be mended.
Pure functions; the server and the pipeline loader use them alike.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar, cast

Node = TypeVar("Node", bound=Hashable)


class CycleError(ValueError):
    """The graph has a cycle; ``cycle`` lists it, its first node again at the end."""

    def __init__(self, cycle: list[object]) -> None:
        self.cycle = cycle
        self.shown = " -> ".join(map(str, cycle))
        super().__init__(f"these depend on each other in a circle: {self.shown}")


class UnknownParent(ValueError):
    """A node names a parent the graph does not have."""

    def __init__(self, node: object, parent: object) -> None:
        self.node, self.parent = node, parent
        super().__init__(f"{node} depends on {parent}, which is not there")


def order(parents: Mapping[Node, Iterable[Node]], known: Iterable[Node] = ()) -> list[Node]:
    """Every node, parents before children (nodes of equal standing in the order given).

    ``known`` are nodes outside the graph that may be named as parents (calculations that
    exist already); they are not in the answer. Raises :class:`CycleError` or
    :class:`UnknownParent`. Iterative, so a chain of any length is fine.
    """
    outside = set(known)
    graph = {node: [p for p in dict.fromkeys(ps) if p not in outside] for node, ps in parents.items()}
    for node, ps in graph.items():
        for parent in ps:
            if parent not in graph:
                raise UnknownParent(node, parent)
    placed: dict[Node, None] = {}
    for root in graph:
        if root in placed:
            continue
        path, on_path = [root], {root}
        stack = [iter(graph[root])]
        while stack:
            following: Node | object = next(stack[-1], _DONE)
            if following is _DONE:
                stack.pop()
                node = path.pop()
                on_path.discard(node)
                placed[node] = None
                continue
            parent = cast(Node, following)
            if parent in on_path:
                raise CycleError([*path[path.index(parent) :], parent])
            if parent not in placed:
                path.append(parent)
                on_path.add(parent)
                stack.append(iter(graph[parent]))
    return list(placed)


_DONE = object()


def descendants(parents: Mapping[Node, Iterable[Node]], start: Iterable[Node]) -> set[Node]:
    """The nodes that depend on any of ``start``, directly or through others (not ``start``)."""
    children: dict[Node, list[Node]] = {}
    for node, ps in parents.items():
        for parent in ps:
            children.setdefault(parent, []).append(node)
    found: set[Node] = set()
    todo = list(start)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found - set(start)
