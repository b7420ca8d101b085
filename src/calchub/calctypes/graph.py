"""The analysis graph: checked when a type registers, and ordered for each run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from calchub.calctypes.api import Analysis, TypeRefused


def check_graph(type_name: str, provides: Iterable[str], analyses: Sequence[Analysis]) -> None:
    """Refuse duplicate names, needs nothing provides, and cycles."""
    data = set(provides)
    names = [a.name for a in analyses]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise TypeRefused(f"type {type_name!r}: analysis {twice[0]!r} is declared twice")
    clash = sorted(data & set(names))
    if clash:
        raise TypeRefused(f"type {type_name!r}: {clash[0]!r} names both extracted data and an analysis")
    for item in analyses:
        missing = [need for need in item.needs if need not in data and need not in names]
        if missing:
            raise TypeRefused(
                f"type {type_name!r}: analysis {item.name!r} needs {missing[0]!r}, which no extractor "
                f"provides and no analysis is named (provided: {', '.join(sorted(data)) or 'nothing'})"
            )
    cycle = _cycle({a.name: [n for n in a.needs if n in names] for a in analyses})
    if cycle:
        raise TypeRefused(f"type {type_name!r}: analyses form a cycle: {' -> '.join(cycle)}")


def _cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """One cycle in the graph as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for need in edges[node]:
            if state.get(need) == 1:
                return [*path[path.index(need) :], need]
            if need not in state and (found := visit(need)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state and (found := visit(node)):
            return found
    return None


def selection_problems(analyses: Sequence[Analysis], selected: Sequence[str]) -> list[str]:
    """Why a request's choice of analyses cannot run: unknown names, unmet needs."""
    known = {a.name: a for a in analyses}
    problems = []
    for name in selected:
        if name not in known:
            choices = ", ".join(known) or "none"
            problems.append(f"there is no analysis {name!r}; this type has: {choices}")
            continue
        for need in known[name].needs:
            if need in known and need not in selected:
                problems.append(f"analysis {name!r} needs analysis {need!r}; select it too")
    return problems


def in_order(analyses: Sequence[Analysis], selected: Sequence[str]) -> list[Analysis]:
    """The selected analyses, each after what it needs; ties keep declaration order."""
    chosen = [a for a in analyses if a.name in set(selected)]
    done: set[str] = set()
    ordered: list[Analysis] = []
    while len(ordered) < len(chosen):
        ready = next(
            a for a in chosen if a.name not in done and all(n in done or n not in selected for n in a.needs)
        )
        ordered.append(ready)
        done.add(ready.name)
    return ordered
