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
that completes a parent. The transaction of an ending queues the calculation if it has
children (``transitions``, the ``chain_queue`` table) and wakes ``chains``; the server's chain
follower (``app``) then runs :func:`advance` in transactions of its own, a page of the queue
each, looking only at the children of what ended. At start-up it queues the parents of
everything that waits, which mends what a stop interrupted. The children are locked while
they are decided (on PostgreSQL, replicas woken together take turns) and each release runs
in a savepoint, so one that goes wrong fails that calculation alone.
"""

from __future__ import annotations

import fnmatch
import logging
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
CHAINS = transitions.CHAINS
#: How a parent may end that its children can never follow.
DOOMED = frozenset({State.FAILED, State.CANCELLED, State.INVALID, State.LOST, State.REJECTED, State.SKIPPED})
#: Queued parents taken per transaction, and waiting children decided per statement.
PAGE = 100
CHILDREN = 500
log = logging.getLogger("calchub.server")


@dataclass
class Links:
    """What a request's ``after`` lists come to, checked: for each request, its parents."""

    #: Per request: (an existing parent's id, or the index of a parent in the request, the link).
    parents: list[list[tuple[int | None, int | None, wire.Parent]]] = field(default_factory=list)
    #: Files each request's children take from it: to be kept when it runs.
    kept: dict[int, list[str]] = field(default_factory=dict)


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
        _one_file_a_target(r, where[i])
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
        remedy = {
            State.SKIPPED: "retry the calculation that ended its chain first",
            State.REJECTED: "submit it again, or wait for another",
        }.get(state, "retry it first")
        raise Conflict(
            f"calculation {row.id} is {state.value}, so nothing waiting for it would ever run; {remedy}",
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


def _one_file_a_target(request: wire.CalculationCreate, where: str) -> None:
    seen: dict[str, str] = {}
    for j, parent in enumerate(request.after):
        for k, f in enumerate(parent.files):
            if f.target in seen:
                raise Invalid(
                    f"{f.target!r} would be placed twice, from {seen[f.target]} and from {parent.ref}; "
                    "give one of them another name with 'as'",
                    f"{where}after[{j}].files[{k}]",
                )
            seen[f.target] = parent.ref


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
    if merged and repo.queue_parents_of(session, sorted({child for child, _ in merged})):
        wake(session, CHAINS)  # a parent may have ended already


def advance(session: Session, store: Store, registry: Registry, limit: int = PAGE) -> bool:
    """Look at the children of up to ``limit`` queued parents: release those whose parents all
    completed, skip those with a parent that never will (a skip queues the skipped one in
    turn). Whether the queue had anything: call again, in a new transaction, until it is empty.
    """
    parents = repo.take_queued(session, limit)
    if not parents:
        return False
    children = repo.waiting_children(session, parents)
    for page in range(0, len(children), CHILDREN):
        _decide(session, store, registry, children[page : page + CHILDREN])
    return True


def start(session: Session) -> None:
    """At start-up: look again at every waiting calculation (a stop may have cut a pass short)."""
    if repo.queue_every_waiting(session):
        wake(session, CHAINS)


def _decide(session: Session, store: Store, registry: Registry, child_ids: list[int]) -> None:
    rows = repo.lock_waiting(session, child_ids)
    # Read after the lock: a parent retried meanwhile is seen as it is now.
    states = repo.parent_states(session, [row.id for row in rows])
    skips: list[tuple[Calculation, State, str | None]] = []
    ready: list[Calculation] = []
    for row in rows:
        parents = states.get(row.id, [])
        doomed = next(((p, s) for p, s, _ in parents if s in DOOMED), None)
        if doomed is not None:
            skips.append(
                (row, State.SKIPPED, f"calculation {doomed[0]} {doomed[1].value}, so this one cannot run")
            )
        elif all(s is State.COMPLETED for _, s, _ in parents):
            ready.append(row)
    transitions.move_all(session, skips, "server")
    if ready:
        taking = _Taking.load(session, ready, {p: a for row in ready for p, _, a in states[row.id]})
        moves = [(row, *_release_one(session, store, registry, row, taking)) for row in ready]
        transitions.move_all(session, moves, "server")
        calc_repo.replace_input_files(session, taking.placed)


@dataclass
class _Taking:
    """What the children being released take, loaded for all of them at once."""

    links: dict[int, list[CalculationLink]]
    own: dict[int, list[str]]
    kept: dict[tuple[int, str], Any]
    results: dict[tuple[int, str], Any]
    #: The input file records made so far, written together at the end.
    placed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, session: Session, rows: list[Calculation], attempts: dict[int, int]) -> _Taking:
        links = repo.parents_of(session, [row.id for row in rows])
        files = calc_repo.files_of(session, [row.id for row in rows])
        own = {}
        for row in rows:
            placed_before = {f.get("as") or f["path"] for link in links[row.id] for f in link.files}
            own[row.id] = [f.path for f in files[row.id] if f.kind == "input" and f.path not in placed_before]
        return cls(links, own, repo.kept_files(session, attempts), repo.results_of(session, list(attempts)))


def _release_one(
    session: Session, store: Store, registry: Registry, calc: Calculation, taking: _Taking
) -> tuple[State, str | None]:
    """Take what ``calc`` asked of its parents; the state it goes to, and why if not queued.

    It is done in a savepoint: whatever goes wrong fails this calculation alone, never the pass
    (which would leave every other waiting calculation waiting)."""
    try:
        with session.begin_nested():
            files, values = _taken(store, calc, taking)
            if calc.deferred is not None:
                files += _render(
                    store, registry, calc, values, taking.own[calc.id], [f["path"] for f in files]
                )
    except Invalid as error:
        return State.FAILED, f"{error} (taking from its parents)"
    except Exception as error:
        log.exception("release failed", extra={"action": "chains.release_failed", "calculation": calc.id})
        return State.FAILED, f"calchub could not take what it needs from its parents: {error}"
    taking.placed += files
    return State.QUEUED, None


def _taken(store: Store, calc: Calculation, taking: _Taking) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Place the parents' files among ``calc``'s inputs; the results its inputs take."""
    files: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    for link in taking.links[calc.id]:
        for f in link.files:
            record = taking.kept.get((link.parent_id, f["path"]))
            if record is None:
                raise Invalid(f"calculation {link.parent_id} kept no file {f['path']!r}")
            target = f.get("as") or f["path"]
            if target in taking.own[calc.id]:
                raise Invalid(
                    f"{target!r} from calculation {link.parent_id} would replace its own {target!r}"
                )
            store.link(link.parent_id, "output", f["path"], calc.id, "input", target)
            files.append(_file_record(calc.id, target, record.size, record.sha256))
        for path, name in link.results.items():
            result = taking.results.get((link.parent_id, name))
            if result is None:
                names = sorted(n for (p, n) in taking.results if p == link.parent_id)
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
    plan = calctypes.plan(registry, request, uploaded=uploaded, provided=placed)
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
    the follower looks at them (and at it, if it ``waits`` itself) again."""
    rows = repo.skipped_descendants(session, calc_id)
    transitions.move_all(
        session, [(row, State.WAITING, f"calculation {calc_id} was retried") for row in rows], actor
    )
    look_again([*(row.id for row in rows), *([calc_id] if waits else [])], session)


def look_again(child_ids: Sequence[int], session: Session) -> None:
    """Have the follower look at these waiting calculations (approved, or retried)."""
    if repo.queue_parents_of(session, child_ids):
        wake(session, CHAINS)


def parents(session: Session, calc_id: int) -> list[CalculationLink]:
    return repo.parents_of(session, [calc_id])[calc_id]


def has_parents(session: Session, calc_id: int) -> bool:
    return bool(parents(session, calc_id))


def children_not_yet_run(session: Session, calc_id: int) -> list[int]:
    """Children that may still take from this calculation (it may not be deleted before them)."""
    return repo.children_not_yet_run(session, calc_id)
