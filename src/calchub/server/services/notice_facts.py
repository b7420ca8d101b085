"""The facts a notice tells of, read for a batch of notices: its calculation, study or model.

``services.notices`` composes each due delivery's message (``messages.about_*``) and webhook
body from these. A notice tells of one thing: a calculation (``calculation_id``), a study
(``study.finished``) or a served model version (``model_id``, ``model.failed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from calchub.domain.states import TERMINAL, State
from calchub.server.db.tables import Calculation, ModelVersion, Notice
from calchub.server.notify import messages
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.repositories import notices as repo
from calchub.server.repositories import projects as project_repo
from calchub.server.repositories import results as result_repo
from calchub.server.repositories import studies as study_repo
from calchub.server.services.models import log_path
from calchub.server.storage import Store

#: How much of the end of a log is read for a message (``messages.log_tail`` trims it further).
LOG_TAIL_BYTES = 4096
About = messages.CalculationFacts | messages.StudyFacts | messages.ModelFacts


class Facts:
    """The facts of the notices' calculations, studies and models, read for a batch: the names
    of projects, clusters and owners are looked up once each."""

    def __init__(self, session: Session, store: Store, public_url: str, notices: Sequence[Notice]) -> None:
        self.session, self.store, self.public_url = session, store, public_url
        self.calcs = repo.calculations(session, [n.calculation_id for n in notices if n.calculation_id])
        self.models = repo.models(session, [n.model_id for n in notices if n.model_id])
        things: list[Calculation | ModelVersion] = [*self.calcs.values(), *self.models.values()]
        self.projects = project_repo.by_ids(session, {each.project_id for each in things})
        self.clusters = cluster_repo.by_ids(session, {c.cluster_id for c in self.calcs.values()})
        self.users = repo.users(session, [each.owner_id for each in things])

    def of(self, notice: Notice) -> About:
        """What the notice tells of, as its message and webhook body show it."""
        if notice.model_id is not None:
            return self.model(notice)
        if notice.kind == "study.finished":
            return self.study(notice)
        return self.calculation(notice)

    def message(self, notice: Notice) -> messages.Message:
        return message_of(self.of(notice))

    def calculation(self, notice: Notice) -> messages.CalculationFacts:
        return self._of(self.calcs[notice.calculation_id or 0], notice)

    def study(self, notice: Notice) -> messages.StudyFacts:
        study = study_repo.by_id(self.session, notice.study_id or 0)
        assert study is not None
        counts = study_repo.state_counts(self.session, [study])[study.id]
        failed = repo.failed_in(self.session, study, messages.LISTED)
        return messages.StudyFacts(
            id=study.id,
            name=study.name,
            project=self._project(study.project_id),
            owner=self._owner(study.owner_id),
            url=f"{self.public_url}/studies/{study.id}",
            total=sum(counts.values()),
            counts=counts,
            failures=tuple(self._of(calc, None) for calc in failed),
        )

    def model(self, notice: Notice) -> messages.ModelFacts:
        """A model version as the notice tells it: the state it tells of (``model.failed``:
        failed), its reason, and the end of the model's log as it is now."""
        model = self.models[notice.model_id or 0]
        return messages.ModelFacts(
            id=model.id,
            name=model.name,
            version=model.version,
            project=self._project(model.project_id),
            owner=self._owner(model.owner_id),
            runtime=model.runtime,
            state=notice.kind.removeprefix("model."),
            url=f"{self.public_url}/models/{model.name}",
            restarts=model.restarts,
            host=model.host,
            message=notice.message or model.message,
            log_tail=_file_tail(log_path(self.store, model.id)),
        )

    def _of(self, calc: Calculation, notice: Notice | None) -> messages.CalculationFacts:
        """A calculation as a notice of it tells it (its state then), or as it is now."""
        state = notice.kind.removeprefix("calculation.") if notice is not None else calc.state
        attempt = notice.attempt if notice is not None and notice.attempt else calc.attempt
        scalars = [r for r in result_repo.of(self.session, calc.id) if r.kind == "scalar"][:20]
        if calc.cluster_id not in self.clusters:
            self.clusters |= cluster_repo.by_ids(self.session, {calc.cluster_id})
        return messages.CalculationFacts(
            id=calc.id,
            name=calc.name,
            state=state,
            project=self._project(calc.project_id),
            cluster=self.clusters[calc.cluster_id].name,
            owner=self._owner(calc.owner_id),
            url=f"{self.public_url}/calculations/{calc.id}",
            study=calc.study,
            attempt=attempt,
            started_at=calc.started_at,
            finished_at=calc.finished_at if State(calc.state) in TERMINAL else None,
            message=(notice.message if notice is not None else None) or calc.message,
            log_tail=_log_tail(self.store, calc.id, attempt),
            results=tuple((r.name, (r.data or {}).get("value"), r.unit) for r in scalars),
        )

    def _project(self, project_id: int) -> str:
        if project_id not in self.projects:
            self.projects |= project_repo.by_ids(self.session, {project_id})
        return self.projects[project_id].name

    def _owner(self, user_id: int) -> str:
        if user_id not in self.users:
            self.users |= repo.users(self.session, [user_id])
        found = self.users.get(user_id)
        return found.username if found else "?"


def message_of(about: About) -> messages.Message:
    """The email that tells of it."""
    if isinstance(about, messages.ModelFacts):
        return messages.about_model(about)
    if isinstance(about, messages.StudyFacts):
        return messages.about_study(about)
    return messages.about_calculation(about)


def _log_tail(store: Store, calc_id: int, attempt: int) -> str:
    size = store.log_size(calc_id, attempt, "stdout")
    tail = store.read_log(calc_id, attempt, "stdout", max(0, size - LOG_TAIL_BYTES))
    return tail.decode(errors="replace")


def _file_tail(path: Path) -> str:
    """The last ``LOG_TAIL_BYTES`` of a file; empty when it cannot be read (a model that never
    started has no log, and a message is better sent without it than not at all)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(0, size - LOG_TAIL_BYTES))
            return log.read().decode(errors="replace")
    except OSError:
        return ""
