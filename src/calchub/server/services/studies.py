"""Studies: calculations run together, seen as one (a sweep, a pipeline, or a group by name).

A study belongs to a project and is seen by whoever sees the project. It is made by
:func:`create` (with a sweep or a pipeline to run, or empty), or by the first calculation
that names it. Its state is its calculations' states, counted; its results are the results
table filtered to it (``services.results``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from calchub.calctypes.registry import Registry
from calchub.contracts import studies as wire
from calchub.contracts.calculations import CalculationCreate
from calchub.domain.permissions import Action
from calchub.domain.states import CANCELLABLE, State
from calchub.server.db.tables import Study, now
from calchub.server.repositories import projects as project_repo
from calchub.server.repositories import studies as repo
from calchub.server.repositories import users as user_repo
from calchub.server.services import calculations, sweeps, transitions
from calchub.server.services import projects as project_service
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Conflict, Forbidden, Invalid, NotFound
from calchub.server.storage import Store

#: How many of the calculations made the answer shows.
SAMPLE = 100


def create(
    session: Session, store: Store, caller: Caller, request: wire.StudyCreate, registry: Registry
) -> wire.StudyCreated:
    """Make the study and every calculation it runs, all or none."""
    made = _calculations(request)
    project = project_service.for_submission(session, caller, _project_named(request, made), "project")
    if repo.by_name(session, project.id, request.study) is not None:
        raise Conflict(
            f"project {project.name!r} has a study {request.study!r} already; choose another name "
            "(calculations join a study by naming it)",
            "study",
        )
    study = repo.add(
        session,
        Study(
            project_id=project.id,
            name=request.study,
            owner_id=caller.id,
            description=request.description,
            kind=_kind(request),
            spec=_spec(request),
            created_at=now(),
        ),
    )
    requests = [r.model_copy(update={"project": project.name}) for r in made]
    created = calculations.submit(session, store, caller, requests, registry) if requests else []
    return wire.StudyCreated(
        id=study.id,
        study=study.name,
        project=project.name,
        count=len(created),
        first_id=created[0].id if created else None,
        last_id=created[-1].id if created else None,
        sample=created[:SAMPLE],
    )


def _calculations(request: wire.StudyCreate) -> list[CalculationCreate]:
    if request.template is not None:
        assert request.space is not None
        return sweeps.template_points(request.template, request.study, request.space)
    if request.pipeline is not None:
        return sweeps.pipeline_points(request.pipeline, request.study, request.space)
    return []


def _project_named(request: wire.StudyCreate, made: Sequence[CalculationCreate]) -> str | None:
    """The study's project: the one it names, else the one its calculations name (one at most)."""
    named = {r.project for r in made if r.project is not None}
    if request.project is not None:
        named.discard(request.project)
        if named:
            raise Invalid(
                f"the study is in project {request.project!r} but a calculation names {sorted(named)[0]!r}; "
                "a study's calculations are all in its project",
                "project",
            )
        return request.project
    if len(named) > 1:
        raise Invalid(f"a study's calculations are in one project, not {', '.join(sorted(named))}", "project")
    return next(iter(named), None)


def _kind(request: wire.StudyCreate) -> str:
    return (
        "sweep" if request.template is not None else "pipeline" if request.pipeline is not None else "group"
    )


def _spec(request: wire.StudyCreate) -> dict[str, object]:
    """What the study's page shows of how it was made: what varied, and a pipeline's graph."""
    spec: dict[str, object] = {}
    if request.space is not None:
        spec["parameters"] = sorted({name for axis in request.space.axes() for name in axis.names})
        spec["space"] = request.space.model_dump(exclude_defaults=True)
    if request.pipeline is not None:
        steps = request.pipeline.steps
        spec["steps"] = [
            {"name": name, "type": steps[name].type, "after": [p.step for p in steps[name].after]}
            for name in sweeps.step_order(request.pipeline)
        ]
    return spec


def visible(session: Session, caller: Caller, study_id: int) -> Study:
    study = repo.by_id(session, study_id)
    if study is None or not caller.sees(study.project_id):
        raise NotFound(f"no study {study_id}")
    return study


def listing(session: Session, caller: Caller, project: str | None = None) -> wire.StudyList:
    project_ids = None if caller.sees_all else sorted(caller.projects)
    if project is not None:
        one = project_service.visible(session, caller, project).id
        project_ids = [one]
    studies = repo.listed(session, project_ids)
    return wire.StudyList(items=_to_wire(session, studies))


def describe(session: Session, caller: Caller, study_id: int) -> wire.Study:
    study = visible(session, caller, study_id)
    shown = _to_wire(session, [study])[0]
    steps = study.spec.get("steps") or []
    if steps:
        counts: dict[str, dict[State, int]] = {}
        for step, by_state in repo.step_counts(session, study).items():
            mine = counts.setdefault(step.split(sweeps.POINT)[0], {})
            for state, n in by_state.items():
                mine[State(state)] = mine.get(State(state), 0) + n
        shown.steps = [
            wire.StepInfo(
                name=s["name"], type=s.get("type"), after=s.get("after", []), counts=counts.get(s["name"], {})
            )
            for s in steps
        ]
    return shown


def find(session: Session, caller: Caller, name: str, project: str | None) -> wire.Study:
    """A study by name, in ``project`` (the caller's personal one by default)."""
    owner = project if project is not None else f"~{caller.username}"
    found = repo.by_name(session, project_service.visible(session, caller, owner).id, name)
    if found is None:
        raise NotFound(f"no study {name!r} in project {owner!r}; `calchub study ls` lists them")
    return describe(session, caller, found.id)


def update(session: Session, caller: Caller, study_id: int, request: wire.StudyUpdate) -> wire.Study:
    study = visible(session, caller, study_id)
    if not caller.may_change(study.owner_id, study.project_id):
        raise Forbidden(f"only its owner, the managers of its project and admins can change study {study_id}")
    study.description = request.description
    session.flush()
    return describe(session, caller, study_id)


def may_cancel(session: Session, caller: Caller, study_id: int) -> bool:
    """Whether the caller may cancel the study (its button on the page)."""
    study = visible(session, caller, study_id)
    return caller.may(Action.CALCULATIONS_WRITE) and caller.may_cancel(study.owner_id, study.project_id)


def cancel(session: Session, caller: Caller, study_id: int, reason: str | None) -> wire.StudyCancelled:
    """Cancel every unfinished calculation of the study that the caller may cancel: its owner,
    its project's managers, moderators and admins may; a member's own that joined it stay."""
    study = visible(session, caller, study_id)
    if not caller.may_cancel(study.owner_id, study.project_id):
        raise Forbidden(
            f"only its owner, the managers of its project, moderators and admins can cancel study {study_id}"
        )
    rows = repo.unfinished(session, study, [s.value for s in CANCELLABLE])
    mine = [row for row in rows if caller.may_cancel(row.owner_id, row.project_id)]
    message = reason or f"study {study.name!r} cancelled by {caller.username}"
    transitions.move_all(session, [(row, State.CANCELLED, message) for row in mine], caller.actor)
    return wire.StudyCancelled(
        study=describe(session, caller, study_id), cancelled=len(mine), left=len(rows) - len(mine)
    )


def _to_wire(session: Session, studies: Sequence[Study]) -> list[wire.Study]:
    counts = repo.state_counts(session, studies)
    projects = project_repo.by_ids(session, {s.project_id for s in studies})
    owners = user_repo.by_ids(session, {s.owner_id for s in studies})
    found = []
    for s in studies:
        by_state = {State(state): n for state, n in counts[s.id].items()}
        owner = owners.get(s.owner_id)
        found.append(
            wire.Study(
                id=s.id,
                name=s.name,
                project=projects[s.project_id].name,
                owner=owner.username if owner else "?",
                description=s.description,
                created_at=s.created_at,
                kind=s.kind,
                total=sum(by_state.values()),
                counts=by_state,
                parameters=list(s.spec.get("parameters") or []),
            )
        )
    return found
