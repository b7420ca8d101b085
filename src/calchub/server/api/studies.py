"""/studies: calculations run together (a sweep, a pipeline, or a group by name)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from calchub.contracts import studies as wire
from calchub.server.api.deps import HubDep, Reader, RecordId, StudyReader, StudyWriter, Writer
from calchub.server.services import studies

router = APIRouter(prefix="/studies", tags=["studies"])


@router.post("", response_model=wire.StudyCreated, status_code=status.HTTP_201_CREATED)
def create(hub: HubDep, user: Writer, body: wire.StudyCreate) -> wire.StudyCreated:
    """Make a study: ``template`` run at every point of ``space`` (a sweep), a ``pipeline``
    (once, or at every point of ``space``), or nothing yet. All its calculations are created,
    or none (422 names the axis, point, step or field at fault; 409 if the name is taken)."""
    with hub.uow() as session:
        return studies.create(session, hub.store, user, body, hub.calctypes)


@router.get("", response_model=wire.StudyList)
def listing(
    hub: HubDep,
    user: Reader,
    project: Annotated[str | None, Query(max_length=100, description="only this project's")] = None,
    name: Annotated[str | None, Query(max_length=100, description="only the study of this name")] = None,
) -> wire.StudyList:
    """The studies the caller sees, newest first, each with its calculations counted by state."""
    with hub.uow() as session:
        if name is not None:
            return wire.StudyList(items=[studies.find(session, user, name, project)])
        return studies.listing(session, user, project)


@router.get("/{study_id}", response_model=wire.Study)
def show(hub: HubDep, user: StudyReader, study_id: RecordId) -> wire.Study:
    """One study: its progress, what it varies, and a pipeline's steps with their progress."""
    with hub.uow() as session:
        return studies.describe(session, user, study_id)


@router.patch("/{study_id}", response_model=wire.Study)
def update(hub: HubDep, user: StudyWriter, study_id: RecordId, body: wire.StudyUpdate) -> wire.Study:
    """Change its description (its owner, its project's managers, admins)."""
    with hub.uow() as session:
        return studies.update(session, user, study_id, body)


@router.post("/{study_id}/cancel", response_model=wire.StudyCancelled)
def cancel(
    hub: HubDep, user: StudyWriter, study_id: RecordId, body: wire.StudyCancel | None = None
) -> wire.StudyCancelled:
    """Cancel its unfinished calculations (its owner, its project's managers, moderators,
    admins); how many were cancelled, and how many others' were left."""
    with hub.uow() as session:
        return studies.cancel(session, user, study_id, body.reason if body else None)
