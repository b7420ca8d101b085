"""Calculations that wait for others, and what passes from parent to child.

A calculation submitted with ``after`` is ``waiting`` (once approved, where its project
approves each run) until every parent has ``completed``. Then it is *released*: the files it
asked for are placed among its inputs (linked in the store when it can, copied otherwise),
the results it asked for are written into its inputs, a typed calculation whose inputs
waited is checked and rendered now, and it is queued. A parent that ends any other way
(failed, cancelled, invalid, lost for good, rejected, skipped) makes it ``skipped``, with the
reason, and so on down the graph. Retrying a calculation puts its skipped descendants back
to ``waiting``, so the chain continues from there; what completed is not run again.

Releasing needs the store and the calculation types, so it is not done inside the change
that completes a parent: the server's chain follower (``app``) runs :func:`advance` in a
transaction of its own when a calculation ends (``terminal``) while some wait, and when
something begins to wait (``chains``). It looks at every
waiting calculation each time (a page of ids at a time), so it also mends what a restart
interrupted; on PostgreSQL a waiting row is locked while it is released (others skip it).
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from calchub.calctypes.registry import Registry
from calchub.contracts import calculations as wire
from calchub.domain import graphs, sweeps
from calchub.domain.states import State
from calchub.server.db.tables import Calculation, CalculationLink, now
from calchub.server.repositories import calculations as calc_repo
from calchub.server.repositories import links as repo
from calchub.server.services import calctypes, transitions
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Conflict, Invalid, NotFound
from calchub.server.services.unit import wake
from calchub.server.storage import Store

#: The wake-up key of the chain follower.
CHAINS = "chains"
#: How a parent may end that its children can never follow.
DOOMED = frozenset({State.FAILED, State.CANCELLED, State.INVALID, State.LOST, State.REJECTED, State.SKIPPED})
#: Waiting calculations looked at per query.
PAGE = 1000


@dataclass
class Links:
    """What a request's ``after`` lists come to, checked: for each request, its parents."""

    #: Per request: (an existing parent's id, or the index of a parent in the request, the link).
    parents: list[list[tuple[int | None, int | None, wire.Parent]]] = field(default_factory=list)
    #: Files each request's children take from it: to be kept when it runs.
    kept: dict[int, list[str]] = field(default_factory=dict)

    def any(self) -> bool:
        return any(self.parents)


def check(
    session: Session,
    caller: Caller,
    requests: Sequence[wire.CalculationCreate],
    where: list[str],
    files: Sequence[Sequence[str]],
) -> Links:
    """Check every ``after`` of a request before anything is written; 422, 404 or 409 if wrong.

    ``files`` are the paths each request's work folder starts with (uploads, rendered files),
    which no file from a parent may replace."""
    links = Links(parents=[[] for _ in requests])
    steps: dict[str, int] = {}
    for i, r in enumerate(requests):
        if r.step is None:
            continue
        if r.step in steps:
            raise Invalid(f"two calculations of the request are called step {r.step!r}", f"{where[i]}step")
        steps[r.step] = i
    if not any(r.after for r in requests):
        return links
    existing = _existing_parents(session, caller, requests, where)
    for i, r in enumerate(requests):
        for j, parent in enumerate(r.after):
            field_ = f"{where[i]}after[{j}]"
            if parent.step is not None:
                if parent.step not in steps:
                    known = ", ".join(sorted(steps)) or "none"
                    raise Invalid(
                        f"no step {parent.step!r} in this request (its steps: {known})", f"{field_}.step"
                    )
                index = steps[parent.step]
                if index == i:
                    raise Invalid(f"step {parent.step!r} cannot wait for itself", f"{field_}.step")
                links.parents[i].append((None, index, parent))
                links.kept.setdefault(index, []).extend(f.path for f in parent.files)
            else:
                assert parent.calculation is not None
                _check_existing(existing[parent.calculation], parent, field_)
                links.parents[i].append((parent.calculation, None, parent))
            _check_targets(files[i], parent, field_)
    _no_cycle(requests, links, where)
    return links


def _existing_parents(
    session: Session, caller: Caller, requests: Sequence[wire.CalculationCreate], where: list[str]
) -> dict[int, Calculation]:
    found: dict[int, Calculation] = {}
    for i, r in enumerate(requests):
        for j, parent in enumerate(r.after):
            if parent.calculation is None or parent.calculation in found:
                continue
            row = calc_repo.get(session, parent.calculation)
            if row is None or not caller.sees(row.project_id):
                raise NotFound(f"no calculation {parent.calculation}", f"{where[i]}after[{j}].calculation")
            found[row.id] = row
    return found


def _check_existing(row: Calculation, parent: wire.Parent, field_: str) -> None:
    state = State(row.state)
    if state in DOOMED:
        raise Conflict(
            f"calculation {row.id} is {state.value}, so nothing waiting for it would ever run; "
            "retry it first",
            f"{field_}.calculation",
        )
    for k, f in enumerate(parent.files):
        if not any(fnmatch.fnmatchcase(f.path, glob) for glob in row.outputs):
            kept = ", ".join(row.outputs) or "none"
            raise Invalid(
                f"calculation {row.id} keeps no file {f.path!r} (it keeps: {kept}); "
                "a file passed on must be one of its outputs",
                f"{field_}.files[{k}]",
            )


def _check_targets(own: Sequence[str], parent: wire.Parent, field_: str) -> None:
    for k, f in enumerate(parent.files):
        if f.target in own:
            raise Invalid(
                f"{f.target!r} is both a file this calculation starts with and a file from {parent.ref}; "
                "give the parent's file another name with 'as'",
                f"{field_}.files[{k}]",
            )


def _no_cycle(requests: Sequence[wire.CalculationCreate], links: Links, where: list[str]) -> None:
    names = [r.step or f"#{i}" for i, r in enumerate(requests)]
    graph = {
        names[i]: [names[index] for _, index, _ in parents if index is not None]
        for i, parents in enumerate(links.parents)
    }
    try:
        graphs.order(graph)
    except graphs.CycleError as error:
        first = names.index(str(error.cycle[0]))
        raise Invalid(
            f"these calculations wait for each other, so none would ever run: {error.shown}",
            f"{where[first]}after",
        ) from None


def record(session: Session, links: Links, ids: Sequence[int]) -> None:
    """Write the links of calculations just inserted with ``ids``; wake the chain follower."""
    rows: list[dict[str, Any]] = [
        {
            "child_id": ids[i],
            "parent_id": existing if existing is not None else ids[index or 0],
            "files": [f.model_dump(by_alias=True, exclude_none=True) for f in parent.files],
            "results": dict(parent.results),
        }
        for i, parents in enumerate(links.parents)
        for existing, index, parent in parents
    ]
    merged: dict[tuple[int, int], dict[str, Any]] = {}
    for row in rows:  # one parent named twice: one link with both lists
        key = (row["child_id"], row["parent_id"])
        if key in merged:
            merged[key]["files"] += row["files"]
            merged[key]["results"] |= row["results"]
        else:
            merged[key] = row
    repo.insert_links(session, list(merged.values()))
    if merged:
        wake(session, CHAINS)


def advance(session: Session, store: Store, registry: Registry) -> int:
    """Release the waiting calculations whose parents all completed, skip those with a parent
    that never will; again until nothing moves (a skip reaches the next generation). How many
    moved."""
    moved = 0
    while True:
        step = _advance_once(session, store, registry)
        if not step:
            return moved
        moved += step


def _advance_once(session: Session, store: Store, registry: Registry) -> int:
    states: dict[int, list[tuple[int, State]]] = defaultdict(list)
    after = 0
    while page := repo.waiting_with_parents(session, after, PAGE):
        for child, parent, state in page:
            states[child].append((parent, State(state)))
        after = max(child for child, _, _ in page)
    doomed = {
        child: next((p, s) for p, s in parents if s in DOOMED)
        for child, parents in states.items()
        if any(s in DOOMED for _, s in parents)
    }
    ready = [
        child
        for child, parents in states.items()
        if child not in doomed and all(s is State.COMPLETED for _, s in parents)
    ]
    rows = {row.id: row for row in repo.lock_waiting(session, [*doomed, *ready])}
    skips = [
        (rows[child], State.SKIPPED, f"calculation {parent} {state.value}, so this one cannot run")
        for child, (parent, state) in doomed.items()
        if child in rows
    ]
    transitions.move_all(session, skips, "server")
    released = [rows[child] for child in ready if child in rows]
    parents = repo.parents_of(session, [row.id for row in released])
    moves = [(row, *_release(session, store, registry, row, parents[row.id])) for row in released]
    transitions.move_all(session, moves, "server")
    return len(skips) + len(moves)


def _release(
    session: Session, store: Store, registry: Registry, calc: Calculation, links: list[CalculationLink]
) -> tuple[State, str | None]:
    """Take what ``calc`` asked of its parents; the state it goes to, and why if not queued."""
    placed_before = {f.get("as") or f["path"] for link in links for f in link.files}
    own = [f.path for f in calc_repo.files_of(session, [calc.id])[calc.id] if f.path not in placed_before]
    try:
        files, values = _taken(session, store, calc, links, own)
        if calc.deferred is not None:
            files += _render(store, registry, calc, values, own, [f["path"] for f in files])
    except Invalid as error:
        return State.FAILED, f"{error} (taking from its parents)"
    calc_repo.replace_input_files(session, calc.id, files)
    return State.QUEUED, None


def _taken(
    session: Session, store: Store, calc: Calculation, links: list[CalculationLink], own: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Place the parents' files among ``calc``'s inputs; the results its inputs take."""
    parent_ids = [link.parent_id for link in links]
    kept = repo.kept_files(session, parent_ids)
    results = repo.results_of(session, parent_ids)
    files: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    for link in links:
        for f in link.files:
            record = kept.get((link.parent_id, f["path"]))
            if record is None:
                raise Invalid(f"calculation {link.parent_id} kept no file {f['path']!r}")
            target = f.get("as") or f["path"]
            if target in own:
                raise Invalid(
                    f"{target!r} from calculation {link.parent_id} would replace its own {target!r}"
                )
            store.link(link.parent_id, "output", f["path"], calc.id, "input", target)
            files.append(_file_record(calc.id, target, record.size, record.sha256))
        for path, name in link.results.items():
            result = results.get((link.parent_id, name))
            if result is None:
                names = sorted(n for (p, n) in results if p == link.parent_id)
                raise Invalid(
                    f"calculation {link.parent_id} has no result {name!r} "
                    f"(its results: {', '.join(names) or 'none'})"
                )
            values[path] = (result.data or {}).get("value") if result.kind == "scalar" else result.data
    return files, values


def _render(
    store: Store,
    registry: Registry,
    calc: Calculation,
    values: dict[str, Any],
    uploaded: list[str],
    placed: list[str],
) -> list[dict[str, Any]]:
    """Check and render a typed calculation now that its inputs are whole; its new files.

    The files it was given (``uploaded``) are checked as its type's uploads; those its parents
    gave it (``placed``) are not the type's business, but no rendered file may replace one.
    """
    assert calc.deferred is not None
    request = wire.CalculationCreate.model_validate(
        calc.deferred | {"inputs": sweeps.inputs_at(calc.deferred.get("inputs") or {}, values)}
    )
    plan = calctypes.plan(registry, request, uploaded=uploaded)
    if clash := sorted({path for path, _ in plan.files} & set(placed)):
        raise Invalid(f"{clash[0]!r} from a parent would replace the file its type writes there")
    calc.command = plan.command
    calc.env = plan.env
    calc.outputs = list(dict.fromkeys([*plan.outputs, *calc.outputs]))  # and what its children take
    calc.cores, calc.gpus = plan.resources.cores, plan.resources.gpus
    calc.memory, calc.walltime = plan.resources.memory, plan.resources.walltime
    calc.scheduler = plan.resources.scheduler_fields() or None
    calc.provenance = calc.provenance | {"command": plan.command}
    calc.calctype_digest = plan.typed["calctype_digest"]
    calc.inputs = plan.typed["inputs"]
    calc.analyses = plan.typed["analyses"]
    calc.deferred = None
    records = []
    for path, data in plan.files:
        size, sha = store.put(calc.id, "input", path, data)
        records.append(_file_record(calc.id, path, size, sha))
    return records


def _file_record(calc_id: int, path: str, size: int, sha: str) -> dict[str, Any]:
    return {
        "calculation_id": calc_id,
        "attempt": 0,
        "kind": "input",
        "path": path,
        "size": size,
        "sha256": sha,
        "created_at": now(),
    }


def continue_after_retry(session: Session, calc_id: int, actor: str, *, waits: bool) -> None:
    """A retried calculation's skipped descendants wait again, for it and their other parents;
    if it ``waits`` itself, the follower looks at it at once."""
    rows = repo.skipped_descendants(session, calc_id)
    transitions.move_all(
        session, [(row, State.WAITING, f"calculation {calc_id} was retried") for row in rows], actor
    )
    if rows or waits:
        wake(session, CHAINS)


def any_waiting(session: Session) -> bool:
    return repo.any_waiting(session)


def parents(session: Session, calc_id: int) -> list[CalculationLink]:
    return repo.parents_of(session, [calc_id])[calc_id]


def has_parents(session: Session, calc_id: int) -> bool:
    return bool(parents(session, calc_id))


def unfinished_children(session: Session, calc_id: int) -> list[int]:
    """Children of this calculation that still wait for it (it may not be deleted before them)."""
    children = [child for _, child in repo.children_of(session, [calc_id])]
    states = calc_repo.row_facts(session, children)
    return sorted(c for c, row in states.items() if State(row.state) is State.WAITING)
